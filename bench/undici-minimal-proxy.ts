/**
 * A reference point, not a product: the least a correct node:http + undici proxy does. It drops
 * hop-by-hop headers both ways (undici refuses them in a dispatch), streams request bodies up and
 * response bodies down with backpressure, skips informational (1xx) answers, answers 502 when the
 * upstream fails before the response started and cuts the client connection when it fails after,
 * and aborts the upstream request when the client goes away. Nothing else: no X-Forwarded-*, no
 * request id, no timeouts, no routing. airgate's cost is read against it.
 *
 * Usage: node dist/bench/undici-minimal-proxy.js PORT UPSTREAM_PORT
 * PORT 0 picks a free port; the port listened on is printed on stdout, one line.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
if (!Number.isInteger(port) || port < 0 || port > 65_535 || !Number.isInteger(upstreamPort) || upstreamPort <= 0 || upstreamPort > 65_535) {
  process.stderr.write(`usage: undici-minimal-proxy PORT UPSTREAM_PORT, found ${JSON.stringify(process.argv.slice(2))}\n`);
  process.exit(2);
}
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256 });

/** RFC 9110 §7.6.1 connection-specific fields, plus `expect` (node:http answers 100-continue itself; undici refuses it). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

/** name/value pairs without hop-by-hop fields and without the fields the Connection header names. */
function endToEnd(raw: readonly (string | Buffer)[]): string[] {
  const text = (i: number) => {
    const v = raw[i]!;
    return typeof v === 'string' ? v : v.toString('latin1');
  };
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (text(i).toLowerCase() !== 'connection') continue;
    named ??= new Set();
    for (const token of text(i + 1).split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(i);
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && !named?.has(lower)) out.push(name, text(i + 1));
  }
  return out;
}

class Relay implements Dispatcher.DispatchHandler {
  private resume: (() => void) | undefined;
  private abort: ((err?: Error) => void) | undefined;

  constructor(private readonly res: ServerResponse) {
    // The client went away before the response ended: stop the upstream request.
    res.once('close', () => {
      if (!res.writableFinished) this.abort?.();
    });
  }
  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true; // informational (103 Early Hints …): wait for the final answer
    this.resume = resume;
    this.res.writeHead(status, endToEnd(raw));
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // Backpressure: undici pauses the upstream socket until resume() is called.
    this.res.once('drain', this.resume!);
    return false;
  }
  onComplete(): void {
    this.res.end();
  }
  onError(err: Error): void {
    if (this.res.headersSent) {
      this.res.destroy(err); // a truncated body must not look complete: cut the client connection
      return;
    }
    this.res.writeHead(502, { 'content-length': 0 });
    this.res.end();
  }
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  pool.dispatch({ path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: endToEnd(req.rawHeaders), body: hasBody ? req : null }, new Relay(res));
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
