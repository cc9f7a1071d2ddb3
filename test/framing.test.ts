import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { basicYaml, client, startGateway, startSims } from './helpers/gateway.js';
import { headerOf, rawExchange, statusOf } from './helpers/raw.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { Gateway } from '../src/server/gateway.js';

let sims: SimulatedAirflow[];
let gw: { gateway: Gateway; url: string };
const http = client();

before(async () => {
  sims = await startSims(1);
  gw = await startGateway(basicYaml(sims, { listener: '    timeouts: { client_header: 300ms }\n    max_header_bytes: 4096' }));
});
after(async () => {
  await http.close();
  await gw.gateway.stop(0);
  await Promise.all(sims.map((s) => s.stop()));
});

const MALFORMED: [string, string][] = [
  ['Content-Length with Transfer-Encoding', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['duplicate Content-Length with different values', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
  ['duplicate Content-Length with equal values', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'],
  ['non-numeric Content-Length', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello'],
  ['negative Content-Length', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ['Transfer-Encoding that does not end in chunked', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['obfuscated Transfer-Encoding', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['a control byte in a header value', 'GET /_sim/echo HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n'],
  ['a space inside a header name', 'GET /_sim/echo HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n'],
  ['a bare LF line ending in the request line', 'GET /_sim/echo HTTP/1.1\nHost: x\r\n\r\n'],
  ['an invalid chunk size', 'POST /_sim/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['a missing Host header on HTTP/1.1', 'GET /_sim/echo HTTP/1.1\r\nUser-Agent: t\r\n\r\n'],
  ['an invalid method token', 'G(T /_sim/echo HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['obsolete line folding', 'GET /_sim/echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n'],
];

for (const [name, payload] of MALFORMED) {
  test(`rejected with 400 and never forwarded: ${name}`, async () => {
    const before = sims[0]!.requests;
    const raw = await rawExchange(gw.gateway.port(), payload);
    assert.equal(statusOf(raw), 400, raw);
    assert.equal(headerOf(raw, 'x-airgate-error'), 'AIRGATE_ERR_BAD_REQUEST');
    assert.ok(headerOf(raw, 'x-request-id'));
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { request_id: string; status: number };
    assert.equal(body.status, 400);
    assert.equal(body.request_id, headerOf(raw, 'x-request-id'));
    assert.equal(sims[0]!.requests, before, 'nothing reached Airflow');
  });
}

test('oversized headers get 431', async () => {
  const raw = await rawExchange(gw.gateway.port(), `GET /_sim/echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  assert.equal(statusOf(raw), 431);
  assert.equal(headerOf(raw, 'x-airgate-error'), 'AIRGATE_ERR_HEADERS_TOO_LARGE');
});

test('slowloris: headers that never finish get 408 and the connection is closed', async () => {
  const port = gw.gateway.port();
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET /_sim/echo HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    let data = '';
    s.on('data', (c) => (data += c.toString()));
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });
  assert.equal(statusOf(raw), 408);
  assert.equal(headerOf(raw, 'x-airgate-error'), 'AIRGATE_ERR_CLIENT_TIMEOUT');
});

test('a smuggling attempt does not disturb other clients', async () => {
  const attack = rawExchange(gw.gateway.port(), MALFORMED[0]![1]);
  const ok = await http.req(`${gw.url}/health`);
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
  assert.equal(statusOf(await attack), 400);
});

test('an absolute-form target is proxied by path with its authority as Host; a Host that disagrees with it is refused (RFC 9112 §3.2.2)', async () => {
  const raw = await rawExchange(gw.gateway.port(), 'GET http://airflow.example.com/_sim/echo?a=1 HTTP/1.1\r\nHost: Airflow.example.com\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(raw), 200);
  const echo = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { url: string; headers: Record<string, string> };
  assert.equal(echo.url, '/_sim/echo?a=1');
  assert.equal(echo.headers.host, 'airflow.example.com');
  const other = await rawExchange(gw.gateway.port(), 'GET http://airflow.example.com/_sim/echo HTTP/1.1\r\nHost: other.example.com\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(other), 400);
  assert.equal(headerOf(other, 'x-airgate-error'), 'AIRGATE_ERR_BAD_REQUEST');
});

test('a request target that is neither a path nor an absolute URL gets 400', async () => {
  const raw = await rawExchange(gw.gateway.port(), 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(raw), 400);
  assert.equal(headerOf(raw, 'x-airgate-error'), 'AIRGATE_ERR_BAD_REQUEST');
});
