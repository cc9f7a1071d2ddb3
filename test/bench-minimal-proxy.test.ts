/**
 * The bench's undici-minimal reference proxy must be correct, or the "airgate ÷ undici-minimal"
 * ratio compares airgate with something that does less. One upstream on port 0 serves every
 * case; the built proxy runs as a child process on port 0 and prints its port.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once, EventEmitter } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const proxyMain = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'undici-minimal-proxy.js');
const LARGE = 64 * 1024 * 1024; // more than every socket buffer between the upstream and the client
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Signals from the upstream to the test (e.g. "the upstream's writes are blocked"). */
const upstreamEvents = new EventEmitter();
let upstream: Server;
let proxy: ChildProcess;
let proxyPort: number;

function writeLarge(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE });
  let sent = 0;
  let signalled = false;
  const pump = () => {
    while (sent < LARGE) {
      sent += CHUNK.length;
      if (!res.write(CHUNK)) {
        if (!signalled) upstreamEvents.emit('blocked');
        signalled = true;
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  switch (req.url) {
    case '/large':
      return writeLarge(res);
    case '/truncated':
      // chunked (no content-length), then the connection dies mid-body
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial ', () => res.socket?.destroy());
      return;
    case '/echo': {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString() })));
      return;
    }
    case '/early-hints':
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => res.end('final'));
      return;
    default:
      res.writeHead(200, { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'content-type': 'text/plain' });
      res.end('hello');
  }
}

before(async () => {
  upstream = createServer(handle);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  proxy = spawn(process.execPath, [proxyMain, '0', String((upstream.address() as AddressInfo).port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: proxy.stdout! }), 'line')) as [string];
  proxyPort = Number(line);
  assert.ok(proxyPort > 0, `the proxy printed ${JSON.stringify(line)}, expected its port`);
});

after(async () => {
  if (proxy.exitCode === null && proxy.signalCode === null) {
    const exited = once(proxy, 'exit');
    proxy.kill('SIGTERM');
    await exited;
  }
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

interface Answer {
  res: IncomingMessage;
  body: string;
}

/** One request on its own connection; resolves with the whole body, rejects when the response breaks off. */
function send(path: string, options: { method?: string; headers?: Record<string, string>; body?: string[] } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('error', reject);
      res.on('close', () => (res.complete ? resolve({ res, body }) : reject(new Error(`response to ${path} ended incomplete after ${body.length} bytes`))));
    });
    req.on('error', reject);
    for (const part of options.body ?? []) req.write(part);
    req.end();
  });
}

test('a large response to a client that reads slowly completes (backpressure resumes)', { timeout: 30_000 }, async () => {
  const blocked = once(upstreamEvents, 'blocked');
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    request({ host: '127.0.0.1', port: proxyPort, path: '/large', agent: false }, resolve).on('error', reject).end();
  });
  assert.equal(res.statusCode, 200);
  res.pause();
  await blocked; // every buffer on the way is full: the proxy paused its upstream read
  let received = 0;
  res.on('data', (c: Buffer) => (received += c.length));
  res.resume();
  await once(res, 'end');
  assert.equal(received, LARGE);
});

test('an upstream that dies mid-body is not passed on as a complete response', { timeout: 10_000 }, async () => {
  await assert.rejects(send('/truncated'), /ended incomplete|aborted|ECONNRESET|socket hang up/);
});

test('request bodies reach the upstream, with content-length and chunked', { timeout: 10_000 }, async () => {
  const sized = await send('/echo', { method: 'POST', headers: { 'content-type': 'text/plain', 'content-length': '10' }, body: ['hello', ' body'] });
  assert.equal(sized.res.statusCode, 200);
  assert.deepEqual(JSON.parse(sized.body), { method: 'POST', body: 'hello body' });

  const chunked = await send('/echo', { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: ['first ', 'second'] });
  assert.equal(chunked.res.statusCode, 200);
  assert.equal((JSON.parse(chunked.body) as { body: string }).body, 'first second');
});

test('a 103 Early Hints answer is skipped and the final 200 is relayed', { timeout: 10_000 }, async () => {
  const { res, body } = await send('/early-hints');
  assert.equal(res.statusCode, 200);
  assert.equal(body, 'final');
});

test("a client's Connection: keep-alive is hop-by-hop, not a reason for 502", { timeout: 10_000 }, async () => {
  const { res, body } = await send('/', { headers: { connection: 'keep-alive', 'keep-alive': 'timeout=30', te: 'trailers' } });
  assert.equal(res.statusCode, 200);
  assert.equal(body, 'hello');
});
