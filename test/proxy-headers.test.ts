import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { basicYaml, client, startGateway, startSims } from './helpers/gateway.js';
import { headerOf, rawExchange, statusOf } from './helpers/raw.js';
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

type Echo = { headers: Record<string, string | string[]>; rawHeaders: string[]; url: string; method: string };

test('hop-by-hop request headers are removed, including every header named by Connection', async () => {
  const port = gw.gateway.port();
  const raw = await rawExchange(
    port,
    'GET /_sim/echo HTTP/1.1\r\nHost: airflow.example.com\r\nConnection: keep-alive, X-Secret-Hop, close\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Foo\r\n' +
      'Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nX-Secret-Hop: must-not-pass\r\nX-Custom: passes\r\nUpgrade: h2c\r\n\r\n',
  );
  assert.equal(statusOf(raw), 200);
  const echo = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echo;
  for (const h of ['keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'x-secret-hop', 'upgrade']) assert.equal(echo.headers[h], undefined, `${h} must not reach Airflow`);
  assert.notEqual(echo.headers.connection, 'keep-alive, X-Secret-Hop, close');
  assert.equal(echo.headers['x-custom'], 'passes');
});

test('Host, Referer, Origin, Authorization and cookies pass untouched; X-Forwarded-* are set', async () => {
  const res = await http.req(`${gw.url}/_sim/echo?x=1`, {
    headers: {
      host: 'airflow.example.com:8443',
      referer: 'https://airflow.example.com:8443/home',
      origin: 'https://airflow.example.com:8443',
      authorization: 'Basic YWRtaW46YWRtaW4=',
      cookie: 'session=abc; _token=xyz',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-port': '1',
    },
  });
  const echo = (await res.body.json()) as Echo;
  assert.equal(echo.url, '/_sim/echo?x=1');
  assert.equal(echo.headers.host, 'airflow.example.com:8443');
  assert.equal(echo.headers.referer, 'https://airflow.example.com:8443/home');
  assert.equal(echo.headers.origin, 'https://airflow.example.com:8443');
  assert.equal(echo.headers.authorization, 'Basic YWRtaW46YWRtaW4=');
  assert.equal(echo.headers.cookie, 'session=abc; _token=xyz');
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(echo.headers['x-forwarded-proto'], 'http', 'a client cannot claim https');
  assert.equal(echo.headers['x-forwarded-host'], 'airflow.example.com:8443');
  assert.equal(echo.headers['x-forwarded-port'], String(gw.gateway.port()));
});

test('X-Forwarded-For from an untrusted client is replaced by its address, never believed', async () => {
  const res = await http.req(`${gw.url}/_sim/echo`, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.2' } });
  const echo = (await res.body.json()) as Echo;
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
});

test('X-Forwarded-For from a trusted proxy is appended to', async () => {
  const trusted = await startGateway(basicYaml(sims, { top: 'trusted_proxies: [127.0.0.0/8]' }));
  try {
    const res = await http.req(`${trusted.url}/_sim/echo`, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.2' } });
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.9, 198.51.100.2, 127.0.0.1');
  } finally {
    await trusted.gateway.stop(0);
  }
});

test('X-Request-Id is generated when absent, sent upstream and returned to the client', async () => {
  const res = await http.req(`${gw.url}/_sim/echo`);
  const id = res.headers['x-request-id'];
  assert.equal(typeof id, 'string');
  assert.ok((id as string).length >= 8);
  const echo = (await res.body.json()) as Echo;
  assert.equal(echo.headers['x-request-id'], id);
  const res2 = await http.req(`${gw.url}/_sim/echo`);
  await res2.body.dump();
  assert.notEqual(res2.headers['x-request-id'], id, 'each request gets its own id');
});

test('a safe client X-Request-Id is kept; an unsafe one is replaced', async () => {
  const res = await http.req(`${gw.url}/_sim/echo`, { headers: { 'x-request-id': 'trace-1234.abc' } });
  assert.equal(res.headers['x-request-id'], 'trace-1234.abc');
  assert.equal(((await res.body.json()) as Echo).headers['x-request-id'], 'trace-1234.abc');
  const bad = await http.req(`${gw.url}/_sim/echo`, { headers: { 'x-request-id': '<script>alert(1)</script>' } });
  await bad.body.dump();
  assert.notEqual(bad.headers['x-request-id'], '<script>alert(1)</script>');
});

test('hop-by-hop response headers from Airflow are removed; end-to-end ones pass with their values', async () => {
  // The simulated API error carries WWW-Authenticate and a problem+json body that must pass intact.
  const res = await http.req(`${gw.url}/api/v1/dags`);
  assert.equal(res.statusCode, 401);
  assert.equal(res.headers['www-authenticate'], 'Basic');
  assert.equal(res.headers['content-type'], 'application/problem+json');
  const body = (await res.body.json()) as { title: string; type: string };
  assert.equal(body.title, 'Unauthorized');
  assert.match(body.type, /Errors\/Unauthenticated$/);
  assert.equal(res.headers['x-airgate-error'], undefined, 'an Airflow error is not marked as the gateway’s');
});

test('the proxy keeps the upstream connection alive across requests (keep-alive pool)', async () => {
  const before = sims[0]!.requests;
  for (let i = 0; i < 5; i++) await (await http.req(`${gw.url}/health`)).body.dump();
  assert.equal(sims[0]!.requests - before, 5);
});

test('HEAD answers with headers and no body', async () => {
  const raw = await rawExchange(gw.gateway.port(), 'HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(raw), 200);
  assert.ok(Number(headerOf(raw, 'content-length')) > 0);
  assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), '');
});
