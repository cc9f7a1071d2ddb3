/**
 * A reference point, not a product: the least a node:http + undici proxy can do (dispatch the
 * client's raw headers, relay status, headers and body, nothing else: no header hygiene, no
 * X-Forwarded-*, no request id, no timeouts, no routing). airgate's cost is read against it.
 *
 * Usage: node dist/bench/undici-minimal-proxy.js PORT UPSTREAM_PORT
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256 });

class Relay implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[]): boolean {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) headers.push(raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1'));
    this.res.writeHead(status, headers);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  pool.dispatch({ path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: req.rawHeaders, body: null }, new Relay(res));
});
server.listen(port, '127.0.0.1');
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
