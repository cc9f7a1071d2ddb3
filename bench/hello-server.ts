/**
 * The runtime's floor: a bare node:http server answering every request with
 * "hello world\n" (12 bytes, content-length, keep-alive). Nothing else runs in it,
 * so its CPU time per request is what node:http itself costs.
 *
 * Usage: node dist/bench/hello-server.js PORT [HOST]
 */
import { createServer } from 'node:http';

const BODY = Buffer.from('hello world\n');

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  process.stderr.write(`hello-server: expected a port number as the first argument, found ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}

const server = createServer((req, res) => {
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 30_000;

server.listen(port, host);

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
