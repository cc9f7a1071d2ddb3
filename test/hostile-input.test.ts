import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'undici';
import { startGateway, type LogCapture } from './helpers/gateway.js';
import { headerOf, rawExchange, statusOf } from './helpers/raw.js';
import { recordingUpstream, tokenIssuer } from './helpers/recording-upstream.js';
import type { Gateway } from '../src/server/gateway.js';
import { connect as h2connect } from 'node:http2';
import { once } from 'node:events';
import WebSocket from 'ws';
import { TestPki } from './helpers/certs.js';
import { MemorySessionStore } from '../src/auth/session-store.js';
import { startSims } from './helpers/gateway.js';

// Each test here is the regression test of one finding of the hostile-input review (issue 12);
// the finding's number is in the test name. The witness is a recording upstream: a refused
// request must never reach it.

let up: Awaited<ReturnType<typeof recordingUpstream>>;
let issuer: Awaited<ReturnType<typeof tokenIssuer>>;
let gw: { gateway: Gateway; url: string; logs: LogCapture };
let port: number;

before(async () => {
  up = await recordingUpstream((s) => (s.url.startsWith('/login') && s.method === 'POST' ? { status: 302, headers: { location: '/login/?next=%2Fhome' } } : { status: 200, body: 'ok' }));
  issuer = await tokenIssuer();
  gw = await startGateway(`listeners:
  - name: public
    address: 127.0.0.1:0
    timeouts: { client_body_idle: 300ms }
trusted_proxies: [127.0.0.2/32]
auth:
  session: { keys: ["hostile-input-session-key-0123456789abcdef"], cookie: gw_session }
  bearer:
    - { issuer: "${issuer.issuer}", jwks_url: "${issuer.jwksUrl}", audiences: [airflow-api] }
backends:
  airflow:
    servers: [{ name: up, url: ${up.url} }]
    health: { enabled: false }
routes:
  - { path: /api/v1/, backend: airflow, auth: bearer }
  - { host: prod.example, path: /, backend: airflow, policy: true }
  - { host: limited.example, path: /, backend: airflow }
  - { path: /, backend: airflow, policy: true }
policy:
  rules:
    - { name: deny-prod, effect: deny, match: { hosts: [prod.example] } }
    - { name: deny-team-b, effect: deny, match: { dags: ["team_b_*"] } }
    - { name: deny-net, effect: deny, match: { sources: [203.0.113.0/24] } }
    - { name: allow-team-a, effect: allow, match: { dags: ["team_a_*"] } }
    - { name: allow-login, effect: allow, match: { paths: [/login, /health] } }
rate_limits:
  - { name: limited-host, match: { hosts: [limited.example] }, rate: 1/h, burst: 1 }
login_protection: { max_failures: 3, lockout: 1h }
admin: { address: 127.0.0.1:0, token: "hostile-input-admin-token-0123456789" }
`);
  port = gw.gateway.port();
});

after(async () => {
  await gw.gateway.stop(0);
  await up.close();
  await issuer.close();
});

/** The gateway still serves: its own health endpoint answers 200. */
async function alive(): Promise<void> {
  const r = await request(`${gw.url}/_airgate/health`);
  assert.equal(r.statusCode, 200);
  await r.body.text();
}

function raw(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

test('#1 undecodable escapes in a DAG id answer 400 and the gateway keeps serving', async () => {
  const before = up.seen.length;
  for (const target of ['/api/v1/dags/%FF', '/api/v1/dags/%c0%ae', '/dags/%E0%A4%A/grid', '/dags/%ED%A0%80/grid']) {
    for (const method of ['DELETE', 'GET']) {
      const r = await rawExchange(port, raw([`${method} ${target} HTTP/1.1`, 'Host: a', 'Connection: close']));
      assert.equal(statusOf(r), 400, `${method} ${target}`);
      assert.ok(headerOf(r, 'x-request-id'));
    }
  }
  assert.deepEqual(
    up.seen.slice(before).map((x) => x.url),
    [],
    'nothing reached the upstream',
  );
  await alive();
});

test('#2 an HTTP/2.0 request line sent as text to an HTTP/1 listener answers 505', async () => {
  const r = await rawExchange(port, raw(['GET /health HTTP/2.0', 'Host: a']), { endAfterWrite: true });
  assert.equal(statusOf(r), 505);
  assert.equal(headerOf(r, 'x-airgate-error'), 'AIRGATE_ERR_HTTP_VERSION');
  await alive();
});

test('#4 an Upgrade request (h2c, websocket, anything) passes authentication like any other', async () => {
  const before = up.seen.length;
  for (const proto of ['h2c', 'websocket', 'foo']) {
    const r = await rawExchange(port, raw(['GET /api/v1/connections HTTP/1.1', 'Host: a', 'Connection: Upgrade', `Upgrade: ${proto}`, 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']));
    assert.equal(statusOf(r), 401, proto);
  }
  assert.equal(up.seen.length, before, 'no anonymous upgrade reached the upstream');
  // With a valid token, a non-WebSocket upgrade is served as an ordinary request, without the Upgrade.
  const token = await issuer.sign({ sub: 'ci-bot', aud: 'airflow-api' });
  const r = await rawExchange(port, raw(['GET /api/v1/connections HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: h2c', `Authorization: Bearer ${token}`]));
  assert.equal(statusOf(r), 200);
  const last = up.seen.at(-1)!;
  assert.equal(last.url, '/api/v1/connections');
  assert.equal(last.headers.upgrade, undefined, 'the upgrade is removed');
});

test('#5 a fragment in the request target answers 400 before any check or upstream', async () => {
  const before = up.seen.length;
  for (const line of ['GET /api/v1/connections# HTTP/1.1', 'POST /clear#?dag_id=team_a_x HTTP/1.1', 'GET http://a/home#x HTTP/1.1']) {
    const r = await rawExchange(port, raw([line, 'Host: a', 'Content-Length: 0', 'Connection: close']));
    assert.equal(statusOf(r), 400, line);
  }
  assert.equal(up.seen.length, before);
});

test('#6 DAG rules see every DAG source Airflow reads, and a DAG parameter opens nothing that is not about a DAG', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const json = { 'content-type': 'application/json' };
  const denied: [string, string, Record<string, string>, string][] = [
    ['POST', '/paused?dag%5Fid=team_b_x&is_paused=true', {}, ''],
    ['GET', '/graph?dag_id=team_a_x&dag_id=team_b_x', {}, ''],
    ['PATCH', '/api/v1/dags?dag_id_pattern=team_a_x|team_b_x', { ...json, authorization: 'x' }, '{"is_paused":true}'],
    ['POST', '/clear', form, 'dag_id=team_b_x&confirmed=true'],
    ['POST', '/dagrun_clear', form, 'dag_id=team_b_x'],
    ['POST', '/clear?dag_id=team_a_x', form, 'dag_id=team_b_x'],
    ['POST', '/clear', { 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="dag_id"\r\n\r\nteam_b_x\r\n--x--\r\n'],
    ['GET', '/api/v2/variables?dag_id=team_a_x', {}, ''],
    ['GET', '/home?dag_id=team_a_x', {}, ''],
  ];
  const before = up.seen.length;
  for (const [method, path, headers, body] of denied) {
    const r = await request(`${gw.url}${path}`, { method: method as 'GET', headers, body: body || undefined });
    await r.body.text();
    assert.equal(r.statusCode, path.startsWith('/api/v1/') ? 401 : 403, `${method} ${path} ${body}`);
  }
  assert.equal(up.seen.length, before, 'no denied request reached the upstream');
  // The bulk REST list with team B in its JSON body, behind a valid token, on the policy route.
  const r1 = await request(`${gw.url}/dags/~/dagRuns/list`, { method: 'POST', headers: json, body: '{"dag_ids":["team_a_x","team_b_y"]}' });
  await r1.body.text();
  // Allowed: a team A form, forwarded with its body intact.
  const ok = await request(`${gw.url}/clear`, { method: 'POST', headers: form, body: 'dag_id=team_a_x&confirmed=true' });
  assert.equal(ok.statusCode, 200);
  await ok.body.text();
  assert.equal(up.seen.at(-1)!.body.toString(), 'dag_id=team_a_x&confirmed=true');
  const page = await request(`${gw.url}/dags/team_a_x/grid`);
  assert.equal(page.statusCode, 200);
  await page.body.text();
});

test('#7 host rules and limits compare the canonical host: a trailing dot or a port escapes nothing', async () => {
  for (const host of ['prod.example.', 'PROD.example:8080', 'prod.example:443']) {
    const r = await rawExchange(port, raw(['GET /dags/team_a_x/grid HTTP/1.1', `Host: ${host}`, 'Connection: close']));
    assert.equal(statusOf(r), 403, host);
  }
  const first = await rawExchange(port, raw(['GET / HTTP/1.1', 'Host: limited.example', 'Connection: close']));
  assert.equal(statusOf(first), 200);
  for (const host of ['limited.example.', 'limited.example:8080', 'LIMITED.EXAMPLE']) {
    const r = await rawExchange(port, raw(['GET / HTTP/1.1', `Host: ${host}`, 'Connection: close']));
    assert.equal(statusOf(r), 429, host);
  }
});

test('#8 the client address comes from the whole X-Forwarded-For chain behind a trusted proxy', async () => {
  // The client sent its own X-Forwarded-For; the trusted proxy (127.0.0.2) appended the real address on a second line.
  const r = await new Promise<string>((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => s.end(raw(['GET /dags/team_a_x/grid HTTP/1.1', 'Host: a', 'X-Forwarded-For: 10.9.9.9', 'X-Forwarded-For: 203.0.113.7', 'Connection: close'])));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', reject);
  });
  assert.equal(statusOf(r), 403, 'the real client 203.0.113.7 is in a denied network');
  assert.match(r, /deny-net/);
});

test('#9 #10 identity headers in any spelling and forwarding headers the gateway does not set never reach Airflow', async () => {
  const r = await rawExchange(
    port,
    raw([
      'GET /dags/team_a_x/grid HTTP/1.1',
      'Host: a',
      'X_Auth_User: admin',
      'X-Auth_User: admin',
      'x-auth-user: admin',
      'X_Airgate_Assertion: forged',
      'X-Auth-Encoding: percent',
      'X-Forwarded-Prefix: /evil',
      'Forwarded: for=1.2.3.4;proto=https',
      'X-Real-IP: 1.2.3.4',
      'X-Original-URL: /admin',
      'X-Custom_Thing: y',
      'Connection: close',
    ]),
  );
  assert.equal(statusOf(r), 200);
  const names = up.seen
    .at(-1)!
    .rawHeaders.filter((_, i) => i % 2 === 0)
    .map((n) => n.toLowerCase());
  for (const bad of ['x_auth_user', 'x-auth_user', 'x-auth-user', 'x_airgate_assertion', 'x-auth-encoding', 'x-forwarded-prefix', 'forwarded', 'x-real-ip', 'x-original-url', 'x-custom_thing']) assert.ok(!names.includes(bad), `${bad} was forwarded`);
});

test('#11 the login lockout holds for chunked and oversized login forms', async () => {
  const attempt = (user: string, chunked: boolean) =>
    rawExchange(
      port,
      chunked
        ? raw(
            ['POST /login/ HTTP/1.1', 'Host: a', 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked', 'Connection: close'],
            `${`username=${user}&password=x`.length.toString(16)}\r\nusername=${user}&password=x\r\n0\r\n\r\n`,
          )
        : raw(['POST /login/ HTTP/1.1', 'Host: a', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${`username=${user}&password=x`.length}`, 'Connection: close'], `username=${user}&password=x`),
    );
  const big = `username=eve&password=${'x'.repeat(70_000)}`;
  const r = await rawExchange(port, raw(['POST /login/ HTTP/1.1', 'Host: a', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${big.length}`], big));
  assert.equal(statusOf(r), 413, 'a login form too large to read is refused, not forwarded unread');
  // Airflow answers a wrong password with 302 back to /login/: three of those lock "mallory" out.
  for (let i = 0; i < 3; i++) assert.equal(statusOf(await attempt('mallory', true)), 302);
  const locked = await attempt('mallory', true);
  assert.equal(statusOf(locked), 429);
  assert.equal(headerOf(locked, 'x-airgate-error'), 'AIRGATE_ERR_LOGIN_LOCKED');
});

test('#14 bearer tokens need an expiry and must be access tokens, not ID tokens', async () => {
  const cases: [string, string][] = [
    ['no exp', await issuer.sign({ sub: 'ci-bot', aud: 'airflow-api' }, { exp: false })],
    ['an ID token (nonce)', await issuer.sign({ sub: 'alice', aud: 'airflow-api', nonce: 'n1' })],
    ['an ID token (at_hash)', await issuer.sign({ sub: 'alice', aud: 'airflow-api', at_hash: 'h' })],
    ['a foreign typ', await issuer.sign({ sub: 'ci-bot', aud: 'airflow-api' }, { typ: 'logout+jwt' })],
  ];
  for (const [what, token] of cases) {
    const r = await request(`${gw.url}/api/v1/dags`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.statusCode, 401, what);
    await r.body.text();
  }
  const good = await request(`${gw.url}/api/v1/dags`, { headers: { authorization: `Bearer ${await issuer.sign({ sub: 'ci-bot', aud: 'airflow-api' }, { typ: 'at+jwt' })}` } });
  assert.equal(good.statusCode, 200);
  await good.body.text();
});

test('#16 a slow request body holds no upstream slot and ends with 408', async () => {
  const before = up.seen.length;
  const slow = connect(port, '127.0.0.1');
  const answer = new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    slow.on('data', (c: Buffer) => chunks.push(c));
    slow.on('close', () => resolve(Buffer.concat(chunks).toString()));
    slow.on('error', () => resolve(Buffer.concat(chunks).toString()));
  });
  slow.write(raw(['POST /dags/team_a_x/trigger HTTP/1.1', 'Host: a', 'Content-Type: text/plain', 'Content-Length: 100'], 'x'));
  const r = await request(`${gw.url}/dags/team_a_x/grid`);
  assert.equal(r.statusCode, 200, 'another request is served while the slow body trickles');
  await r.body.text();
  const slowAnswer = await answer;
  assert.equal(statusOf(slowAnswer), 408);
  assert.ok(!up.seen.slice(before).some((s) => s.method === 'POST'), 'the stalled upload never reached the upstream');
});

test('#19 bytes after a Connection: close request never come ahead of its answer', async () => {
  const r = await rawExchange(port, raw(['GET /dags/team_a_x/grid HTTP/1.1', 'Host: a', 'Connection: close'], 'GARBAGE\r\n\r\nMORE'));
  assert.equal(statusOf(r), 200, 'the first bytes are the answer of the request Airflow ran');
  assert.equal(r.match(/HTTP\/1\.1 /g)!.length, 1, 'exactly one response');
});

test('#21 a client that half-closes after its last request still gets the answer', async () => {
  const r = await rawExchange(port, raw(['GET /dags/team_a_x/grid HTTP/1.1', 'Host: a', 'Connection: close']), { endAfterWrite: true });
  assert.equal(statusOf(r), 200);
  assert.match(r, /\r\nok\r\n0\r\n\r\n$/, 'the whole body arrived');
  const r10 = await rawExchange(port, raw(['GET /dags/team_a_x/grid HTTP/1.0', 'Host: a']), { endAfterWrite: true });
  assert.equal(statusOf(r10), 200);
});

test('two Host headers, or a Host that disagrees with an absolute-form target, answer 400', async () => {
  const before = up.seen.length;
  for (const lines of [
    ['GET /dags/team_a_x/grid HTTP/1.1', 'Host: a', 'Host: b'],
    ['GET http://other.example/dags/team_a_x/grid HTTP/1.1', 'Host: a'],
  ]) {
    const r = await rawExchange(port, raw([...lines, 'Connection: close']));
    assert.equal(statusOf(r), 400, lines.join(' | '));
  }
  assert.equal(up.seen.length, before);
});

test("#12 a renamed session cookie never reaches Airflow; Airflow's own cookies do", async () => {
  const r = await request(`${gw.url}/dags/team_a_x/grid`, { headers: { cookie: 'gw_session=sealed-value; session=airflow-session; airgate_login=x; other=1' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();
  assert.equal(up.seen.at(-1)!.headers.cookie, 'session=airflow-session; other=1');
});

test('#17 #18 a silent TLS client and an idle HTTP/2 session are closed; a WebSocket tunnel holds its connection slot', async () => {
  const pki = new TestPki();
  const leaf = pki.issue('gw', ['localhost']);
  const [sim] = await startSims(1);
  const g = await startGateway(`listeners:
  - name: tls
    address: 127.0.0.1:0
    tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }] }
    http2: true
    timeouts: { tls_handshake: 300ms, http2_idle: 300ms }
  - { name: plain, address: 127.0.0.1:0 }
backends:
  airflow:
    servers: [{ name: web-1, url: ${sim!.url}, max_connections: 1 }]
    queue: { size: 0 }
    health: { enabled: false }
routes:
  - { path: /, backend: airflow }
`);
  try {
    // A TCP client that never sends a ClientHello.
    const silent = connect(g.gateway.port('tls'), '127.0.0.1');
    silent.on('error', () => undefined);
    await once(silent, 'close');
    // An HTTP/2 session that never opens a stream.
    const session = h2connect(`https://127.0.0.1:${g.gateway.port('tls')}`, { ca: pki.read(pki.caCert), servername: 'localhost' });
    session.on('error', () => undefined);
    await once(session, 'close');
    // The tunnel takes web-1's only slot: an ordinary request finds no room (queue size 0).
    const ws = new WebSocket(`ws://127.0.0.1:${g.gateway.port('plain')}/_sim/ws`);
    ws.on('error', () => undefined); // terminate() below may meet the gateway closing the tunnel
    await once(ws, 'open');
    const busy = await request(`http://127.0.0.1:${g.gateway.port('plain')}/_sim/echo`);
    assert.equal(busy.statusCode, 503);
    assert.equal(busy.headers['x-airgate-error'], 'AIRGATE_ERR_QUEUE_FULL');
    await busy.body.dump();
    ws.terminate();
    let status = 0;
    const deadline = Date.now() + 5000;
    while (status !== 200 && Date.now() < deadline) {
      const r = await request(`http://127.0.0.1:${g.gateway.port('plain')}/_sim/echo`);
      status = r.statusCode;
      await r.body.dump();
    }
    assert.equal(status, 200, 'the slot is free once the tunnel closed');
  } finally {
    await g.gateway.stop(0);
    await sim!.stop();
    pki.cleanup();
  }
});

test("the per-request error boundary: an exception inside a filter is that request's 500, and the next request is served", async () => {
  // Fault injection: a filter that throws stands for any bug in the request path.
  const runtime = gw.gateway.runtime;
  const original = runtime.filters;
  const boom = () => {
    throw new TypeError('a bug in a filter');
  };
  Object.defineProperty(runtime, 'filters', { value: { ...original, checks: [boom, ...original.checks] }, configurable: true });
  try {
    const r = await request(`${gw.url}/dags/team_a_x/grid`);
    assert.equal(r.statusCode, 500);
    assert.equal(r.headers['x-airgate-error'], 'AIRGATE_ERR_INTERNAL');
    await r.body.text();
    const logged = gw.logs.lines.find((l) => l.msg === 'internal error while handling a request; answered 500');
    assert.ok(logged && String((logged.err as { stack: string }).stack).includes('a bug in a filter'), 'logged with its stack');
  } finally {
    Object.defineProperty(runtime, 'filters', { value: original, configurable: true });
  }
  const next = await request(`${gw.url}/dags/team_a_x/grid`);
  assert.equal(next.statusCode, 200);
  await next.body.text();
  await alive();
});

test('#15 admin API bodies are capped: a large body answers 413 and changes nothing', async () => {
  const admin = `http://127.0.0.1:${gw.gateway.admin!.port}`;
  const r = await request(`${admin}/backends/airflow/servers/up`, {
    method: 'POST',
    headers: { authorization: 'Bearer hostile-input-admin-token-0123456789', 'content-type': 'application/json' },
    body: `{"state":"drain","pad":"${'x'.repeat(200_000)}"}`,
  }).catch((err: Error) => err);
  if (r instanceof Error) assert.match(r.message, /EPIPE|ECONNRESET|other side closed|SocketError/i);
  else {
    assert.equal(r.statusCode, 413);
    await r.body.text();
  }
  assert.equal(gw.gateway.runtime.backends.get('airflow')!.server('up')!.admin, 'ready', 'the server was not drained');
});

test('#13 the memory session store is bounded: a flood of sessions and logouts keeps at most its limit', async () => {
  const store = new MemorySessionStore(100);
  for (let i = 0; i < 1000; i++) await store.set(`s${i}`, { sub: `u${i}`, idpSid: undefined, idToken: undefined, refreshToken: undefined, accessExpiresAt: undefined }, 60_000);
  for (let i = 0; i < 1000; i++) await store.revoke({ sid: `r${i}` }, 60_000);
  const { sessions, revoked } = store.size;
  assert.ok(sessions <= 100, `${sessions} sessions kept`);
  assert.ok(revoked <= 100, `${revoked} revocations kept`);
  assert.ok(await store.get('s999'), 'the newest session is kept');
  assert.ok(store.isRevoked('r999'), 'the newest logout is kept');
});
