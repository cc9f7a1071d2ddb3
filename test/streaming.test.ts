import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { basicYaml, client, startGateway, startSims } from './helpers/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { Gateway } from '../src/server/gateway.js';

let sims: SimulatedAirflow[];
let gw: { gateway: Gateway; url: string };
const http = client();

before(async () => {
  sims = await startSims(1);
  gw = await startGateway(basicYaml(sims));
});
after(async () => {
  await http.close();
  await gw.gateway.stop(0);
  await Promise.all(sims.map((s) => s.stop()));
});

/**
 * The simulated node sends each line only after `next()`; the client must see line N before
 * line N+1 exists. A gateway that buffered would leave this test waiting.
 */
for (const type of ['text/plain', 'application/x-ndjson']) {
  test(`${type} streams reach the client chunk by chunk`, async () => {
    const res = await http.req(`${gw.url}/_sim/stream?gate=1&lines=4&type=${encodeURIComponent(type)}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], type);
    const seen: string[] = [];
    for await (const chunk of res.body) {
      seen.push((chunk as Buffer).toString());
      if (seen.length < 4) sims[0]!.streamer.next();
    }
    const expected = [1, 2, 3, 4].map((i) => (type === 'text/plain' ? `line ${i}\n` : `${JSON.stringify({ content: `line ${i}` })}\n`));
    assert.deepEqual(seen, expected);
  });
}

test('response trailers are relayed', async () => {
  const res = await http.req(`${gw.url}/_sim/trailers`, { headers: { te: 'trailers' } });
  assert.equal(await res.body.text(), 'part one\npart two\n');
  assert.deepEqual(res.trailers, { 'x-checksum': 'abc123' });
});

test('Expect: 100-continue gets 100 before the body is sent, and the body arrives', async () => {
  const port = gw.gateway.port();
  const result = await new Promise<{ sawContinue: boolean; status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/_sim/echo', headers: { expect: '100-continue', 'content-length': 5, 'content-type': 'text/plain' } });
    let sawContinue = false;
    req.on('continue', () => {
      sawContinue = true;
      req.end('hello');
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ sawContinue, status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  assert.equal(result.sawContinue, true);
  assert.equal(result.status, 200);
  const echo = JSON.parse(result.body) as { bodyBytes: number; headers: Record<string, string> };
  assert.equal(echo.bodyBytes, 5);
  assert.equal(echo.headers.expect, undefined, 'Expect is answered by the gateway, not forwarded');
});

test('a chunked request body larger than the request buffer streams to Airflow intact', async () => {
  const parts = Array.from({ length: 50 }, (_, i) => Buffer.alloc(30_000, i));
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const res = await http.req(`${gw.url}/_sim/upload`, { method: 'POST', body: Readable.from(parts) });
  const echo = (await res.body.json()) as { bodyBytes: number; sha256: string; headers: Record<string, string> };
  assert.equal(echo.bodyBytes, 1_500_000);
  assert.equal(echo.sha256, hash.digest('hex'));
  assert.equal(echo.headers['transfer-encoding'], 'chunked');
});

test('a 1 MB body (Airflow’s allowed_payload_size) passes with its Content-Length', async () => {
  const body = Buffer.alloc(1_048_576, 7);
  const res = await http.req(`${gw.url}/_sim/echo`, { method: 'PATCH', body });
  const echo = (await res.body.json()) as { bodyBytes: number; headers: Record<string, string>; method: string };
  assert.equal(echo.bodyBytes, body.length);
  assert.equal(echo.headers['content-length'], String(body.length));
  assert.equal(echo.method, 'PATCH');
});

test('WebSocket upgrade is tunnelled both ways (text and binary echo)', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.gateway.port()}/_sim/ws`);
  const upgrade = new Promise<Record<string, string | string[] | undefined>>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const headers = await upgrade;
  assert.equal(headers['x-sim-node'], 'web-1');
  assert.equal(typeof headers['x-request-id'], 'string');
  const received: (string | Buffer)[] = [];
  const done = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received.push(isBinary ? data : data.toString());
      if (received.length === 3) resolve();
    }),
  );
  ws.send('hello airflow');
  ws.send(Buffer.from([1, 2, 3, 255]));
  ws.send('x'.repeat(70_000));
  await done;
  assert.equal(received[0], 'hello airflow');
  assert.deepEqual(received[1], Buffer.from([1, 2, 3, 255]));
  assert.equal(received[2], 'x'.repeat(70_000));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000);
  assert.equal(await closed, 1000);
});

test('an upgrade the upstream refuses is relayed as its ordinary answer', async () => {
  const port = gw.gateway.port();
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
    let data = '';
    s.on('data', (c) => (data += c.toString()));
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 404 /);
});
