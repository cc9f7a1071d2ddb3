import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { startGateway, type LogCapture } from './helpers/gateway.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rawExchange, statusOf, headerOf } from './helpers/raw.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import type { Gateway } from '../src/server/gateway.js';
import { normalizePath } from '../src/policy/normalize.js';
import { dagScope } from '../src/policy/dag-sources.js';
import { GcraStore } from '../src/policy/rate-limiter.js';
import { LoginGuard } from '../src/policy/login-guard.js';
import { waitFor } from './helpers/wait.js';

let jwksServer: Server;
let sign: (claims: Record<string, unknown>) => Promise<string>;
let v2: SimulatedAirflow;
let v3: SimulatedAirflow;
let gw: { gateway: Gateway; url: string; logs: LogCapture };
const agent = new Agent();

before(async () => {
  const k = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(k.publicKey)), kid: 'p1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [pub] })));
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
  sign = (claims) => new SignJWT({ iss: 'https://idp.test', aud: 'airflow', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'p1' }).setIssuedAt().setExpirationTime('5m').sign(k.privateKey);
  v2 = await new SimulatedAirflow({ name: 'af2', remoteUserHeader: 'X-Auth-User', state: new AirflowState() }).start();
  v3 = await new SimulatedAirflow({ name: 'af3', airflow: 3 }).start();
  gw = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
trusted_proxies: [127.0.0.0/8]
auth:
  bearer:
    - { issuer: "https://idp.test", jwks_url: "${jwksUrl}", audiences: [airflow] }
policy:
  public: [/health, /auth/token]
  rules:
    - { name: no-connections-api, effect: deny, match: { paths: [/api/v1/connections, /api/v2/connections] } }
    - { name: no-admin-ui, effect: deny, match: { paths: [/admin] } }
    - { name: team-a-dags, effect: allow, match: { groups: [team-a], dags: ["team_a_*"] } }
    - { name: team-a-lists, effect: allow, match: { groups: [team-a], methods: [GET], paths: [/api/v1/dags, /api/v2/dags, /health] } }
    - { name: everyone-else-reads, effect: allow, match: { methods: [GET] } }
    - { name: login-form, effect: allow, match: { paths: [/login], methods: [POST] } }
rate_limits:
  - { name: logins, match: { paths: [/login], methods: [POST] }, key: [client_ip], rate: 2/s, burst: 5 }
login_protection: { max_failures: 3, window: 1m, lockout: 2s }
backends:
  af2:
    health: { enabled: false }
    servers: [{ name: af2, url: ${v2.url} }]
  af3:
    airflow: 3
    health: { enabled: false }
    servers: [{ name: af3, url: ${v3.url} }]
routes:
  - { path: /, backend: af2, auth: none, policy: true }
  - { path: /, host: v3.test, backend: af3, auth: bearer, policy: true }
  - { path: /api/v1, backend: af2, auth: bearer, policy: true }
`);
});

after(async () => {
  await agent.close();
  await gw?.gateway.stop(0);
  await Promise.all([v2?.stop(), v3?.stop()]);
  jwksServer?.close();
});

test('normalization: unreserved escapes decoded, dot segments and double slashes removed; ambiguous paths refused', () => {
  const ok = (t: string) => {
    const n = normalizePath(t);
    assert.ok(n.ok, t);
    return n.path + n.query;
  };
  assert.equal(ok('/api/v1/%63onnections'), '/api/v1/connections');
  assert.equal(ok('/api/v1/./connections'), '/api/v1/connections');
  assert.equal(ok('/api/v1//connections'), '/api/v1/connections');
  assert.equal(ok('/api/v1/x/../connections?a=1'), '/api/v1/connections?a=1');
  assert.equal(ok('/api/v1/%2e%2e/v1/connections'), '/api/v1/connections');
  assert.equal(ok('/dags/a%20b/grid'), '/dags/a%20b/grid');
  for (const bad of ['/api%2Fv1/connections', '/api/v1\\connections', '/api/v1/%5cconnections', '/../etc/passwd', '/x/%2e%2e/%2e%2e/y', '/bad%zz', '/nul%00']) assert.equal(normalizePath(bad).ok, false, bad);
  assert.deepEqual(dagScope('GET', '/api/v2/dags/team_a_etl/dagRuns', ''), { kind: 'ids', ids: ['team_a_etl'] });
  assert.deepEqual(dagScope('GET', '/dags/team_b_report/grid', ''), { kind: 'ids', ids: ['team_b_report'] });
  assert.deepEqual(dagScope('GET', '/graph', '?dag_id=x_1&root='), { kind: 'ids', ids: ['x_1'] });
});

test('ACL bypass suite: encoded, dotted, doubled and mixed-case variants of a denied path never pass', async () => {
  const variants = [
    '/api/v1/connections',
    '/api/v1/%63onnections',
    '/api/v1/./connections',
    '/api/v1//connections',
    '//api/v1/connections',
    '/API/v1/connections',
    '/Api/V1/Connections',
    '/api/v1/x/../connections',
    '/api/v1/connections/',
    '/api/v1/connections?x=1',
    '/api/v1/%2e/connections',
    '/api/v1/connections/my_conn',
    '/admin/users/list',
    '/ADMIN/',
    '/api%2Fv1/connections',
    '/api/v1\\connections',
    '/api/v1/%5cconnections',
    '/x/../../api/v1/connections',
  ];
  const before = v2.requests;
  const token = await sign({ sub: 'ann', groups: ['team-a'] });
  for (const path of variants) {
    const raw = await rawExchange(gw.gateway.port(), `GET ${path} HTTP/1.1\r\nHost: airflow.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    const status = statusOf(raw);
    assert.ok(status === 403 || status === 400, `${path} → ${status}`);
    assert.ok(['AIRGATE_ERR_FORBIDDEN', 'AIRGATE_ERR_BAD_REQUEST'].includes(headerOf(raw, 'x-airgate-error') ?? ''), path);
  }
  assert.equal(v2.requests, before, 'none of them reached Airflow');
  const denial = gw.logs.lines.find((l) => l.msg === 'request denied by policy' && l.rule === 'no-connections-api');
  assert.ok(denial, 'denials are logged with the rule');
});

test('a team rule lets team A trigger team_a_etl and forbids team_b_report, on /api/v1 and /api/v2 alike', async () => {
  const teamA = await sign({ sub: 'ann', groups: ['team-a'] });
  const trigger = async (url: string, dag: string, host?: string) => {
    const res = await request(`${url}/dags/${dag}/dagRuns`, {
      dispatcher: agent,
      method: 'POST',
      headers: { authorization: `Bearer ${teamA}`, 'content-type': 'application/json', ...(host ? { host } : {}) },
      body: JSON.stringify({ dag_run_id: `r-${Math.random()}`, logical_date: null }),
    });
    const body = await res.body.text();
    return { status: res.statusCode, code: res.headers['x-airgate-error'], body };
  };
  const a1 = await trigger(`${gw.url}/api/v1`, 'team_a_etl');
  // Airflow 2 answers 401 to a bearer token it does not know; what matters is that the gateway let it through.
  assert.notEqual(a1.code, 'AIRGATE_ERR_FORBIDDEN', a1.body);
  const b1 = await trigger(`${gw.url}/api/v1`, 'team_b_report');
  assert.equal(b1.status, 403);
  assert.equal(b1.code, 'AIRGATE_ERR_FORBIDDEN');
  const a2 = await trigger(`${gw.url}/api/v2`, 'team_a_etl', 'v3.test');
  assert.notEqual(a2.code, 'AIRGATE_ERR_FORBIDDEN', a2.body);
  const b2 = await trigger(`${gw.url}/api/v2`, 'team_b_report', 'v3.test');
  assert.equal(b2.status, 403);
  assert.match(b2.body, /no allow rule matches/);
  const encoded = await trigger(`${gw.url}/api/v1`, 'team_b%5freport');
  assert.equal(encoded.status, 403, 'an encoded DAG id is judged decoded');
  const stranger = await sign({ sub: 'sam', groups: ['team-b'] });
  const sres = await request(`${gw.url}/api/v1/dags/team_a_etl/dagRuns`, { dispatcher: agent, method: 'POST', headers: { authorization: `Bearer ${stranger}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(sres.statusCode, 403, 'team B cannot trigger team A’s DAG');
  await sres.body.dump();
});

test('a login flood from one address is throttled before reaching Airflow while another client’s API calls succeed', async () => {
  const flooderBefore = v2.requests;
  const floodAgent = new Agent({ connections: 100 });
  const flood = Array.from({ length: 60 }, () =>
    request(`${gw.url}/login/`, { dispatcher: floodAgent, method: 'POST', headers: { 'x-forwarded-for': '203.0.113.66', 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=admin&password=wrong&csrf_token=x' }).then(async (r) => {
      await r.body.dump();
      return { status: r.statusCode, code: r.headers['x-airgate-error'], retry: r.headers['retry-after'], limit: r.headers['ratelimit-limit'] };
    }),
  );
  const api = Array.from({ length: 20 }, () =>
    request(`${gw.url}/health`, { dispatcher: agent, headers: { 'x-forwarded-for': '198.51.100.7' } }).then(async (r) => {
      await r.body.dump();
      return r.statusCode;
    }),
  );
  const [floodResults, apiResults] = await Promise.all([Promise.all(flood), Promise.all(api)]);
  await floodAgent.close();
  assert.deepEqual(apiResults, Array(20).fill(200), 'the other client is served throughout');
  const limited = floodResults.filter((r) => r.code === 'AIRGATE_ERR_RATE_LIMITED' || r.code === 'AIRGATE_ERR_LOGIN_LOCKED');
  assert.ok(limited.length >= 50, `${limited.length} of 60 flood requests were stopped at the gateway: ${JSON.stringify(floodResults.map((r) => r.code ?? r.status))}`);
  for (const r of limited) assert.equal(r.status, 429);
  assert.ok(v2.requests - flooderBefore <= 20 + 10, 'at most the burst of logins (plus the API calls) reached Airflow');
});

test('failed logins through the gateway lock the address out', async () => {
  const ip = '192.0.2.55';
  // Airflow 3's token endpoint: 401 for bad credentials is a failed login.
  const tryLogin = async (password: string) => {
    const res = await request(`${gw.url}/auth/token`, { dispatcher: agent, method: 'POST', headers: { host: 'v3.test', 'x-forwarded-for': ip, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'viewer', password }) });
    await res.body.dump();
    return { status: res.statusCode, code: res.headers['x-airgate-error'] };
  };
  assert.equal((await tryLogin('viewer')).status, 201, 'a good login passes');
  for (let i = 0; i < 3; i++) assert.deepEqual(await tryLogin('wrong'), { status: 401, code: undefined });
  await waitFor(() => gw.gateway.runtime.loginGuard.lockedFor([`ip:${ip}`], Date.now()) > 0, 'the lockout');
  const locked = await tryLogin('viewer');
  assert.equal(locked.status, 429);
  assert.equal(locked.code, 'AIRGATE_ERR_LOGIN_LOCKED');
});

test('a flood of distinct keys keeps the limiter store bounded (a million keys)', () => {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const store = new GcraStore(100_000);
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) store.take(`203.0.${i >> 8}.${i & 255}:${i}`, i, 100, 5);
  assert.ok(store.size <= 100_000, `store holds ${store.size} keys`);
  gc();
  const grown = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 64 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
});

test('worker heartbeats on /execution are never rate limited', async () => {
  const g = await startGateway(`listeners: [{ name: p, address: "127.0.0.1:0" }]
rate_limits: [{ name: all, match: {}, key: [client_ip], rate: 1/m, burst: 1 }]
backends: { af3: { airflow: 3, health: { enabled: false }, servers: [{ name: af3, url: "${v3.url}" }] } }
routes: [{ path: /, backend: af3, auth: passthrough }]
`);
  try {
    const statuses: number[] = [];
    // A real task token: Airflow 3's Execution API refuses anything else (403 "Invalid auth token").
    const worker = await v3.v3.workerToken('abc');
    for (let i = 0; i < 5; i++) {
      const r = await request(`${g.url}/execution/task-instances/abc/heartbeat`, { method: 'PUT', headers: { authorization: `Bearer ${worker}`, 'content-type': 'application/json' }, body: '{}' });
      statuses.push(r.statusCode);
      await r.body.dump();
    }
    assert.deepEqual(statuses, [204, 204, 204, 204, 204]);
    const other = [await request(`${g.url}/api/v2/version`), await request(`${g.url}/api/v2/version`)];
    assert.deepEqual(
      other.map((r) => r.statusCode),
      [200, 429],
      'other paths are limited',
    );
    const limited = other[1]!;
    assert.equal(limited.headers['x-airgate-error'], 'AIRGATE_ERR_RATE_LIMITED');
    assert.equal(limited.headers['ratelimit-limit'], '1');
    assert.equal(limited.headers['ratelimit-remaining'], '0');
    assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['ratelimit-reset']) >= 1);
    await Promise.all(other.map((r) => r.body.dump()));
  } finally {
    await g.gateway.stop(0);
  }
});

test('connection limits per client address', async () => {
  const g = await startGateway(`listeners: [{ name: p, address: "127.0.0.1:0", max_connections_per_ip: 2 }]
backends: { af2: { health: { enabled: false }, servers: [{ name: af2, url: "${v2.url}" }] } }
routes: [{ path: /, backend: af2 }]
`);
  try {
    const port = g.gateway.port();
    const open = async () => {
      const s = connect(port, '127.0.0.1');
      await once(s, 'connect');
      return s;
    };
    const a = await open();
    const b = await open();
    const c = await open();
    await once(c, 'close');
    assert.ok(!a.destroyed && !b.destroyed, 'the first two stay open');
    a.destroy();
    b.destroy();
  } finally {
    await g.gateway.stop(0);
  }
});

test('login lockouts grow with each lockout and a success clears them', () => {
  const guard = new LoginGuard({ enabled: true, max_failures: 2, window: 60_000, lockout: 1000, max_lockout: 5000 }, 1000);
  const k = ['ip:1.2.3.4', 'user:ann'];
  guard.failure(k, 0);
  assert.equal(guard.lockedFor(k, 0), 0, 'one failure is not a lockout');
  guard.failure(k, 10);
  assert.equal(guard.lockedFor(k, 10), 1000, 'first lockout: 1 s');
  guard.failure(k, 2000);
  guard.failure(k, 2010);
  assert.equal(guard.lockedFor(k, 2010), 2000, 'second lockout: doubled');
  for (const t of [5000, 5001, 9000, 9001, 20_000, 20_001]) guard.failure(k, t);
  assert.equal(guard.lockedFor(k, 20_001), 5000, 'capped at max_lockout');
  guard.success(k);
  assert.equal(guard.lockedFor(k, 20_002), 0, 'a successful login clears it');
  guard.failure(['ip:9.9.9.9'], 0);
  guard.failure(['ip:9.9.9.9'], 70_000);
  assert.equal(guard.lockedFor(['ip:9.9.9.9'], 70_000), 0, 'failures outside the window do not add up');
});

test('airgate check reports rules that can never match', async () => {
  const { execFile } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  // eslint-disable-next-line @typescript-eslint/unbound-method -- path.join does not use `this`
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const dir = mkdtempSync(join(tmpdir(), 'airgate-check-'));
  const file = join(dir, 'airgate.yaml');
  writeFileSync(
    file,
    `listeners: [{ name: p, address: "127.0.0.1:0" }]
policy:
  rules:
    - { name: lockdown, effect: deny, match: {} }
    - { name: readers, effect: allow, match: { methods: [GET] } }
backends: { a: { servers: [{ name: s, url: "http://127.0.0.1:1" }] } }
routes: [{ path: /, backend: a, policy: true }]
`,
  );
  try {
    const out = await new Promise<string>((resolve, reject) =>
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- ExecFileException is an Error; its Omit<> type hides that
      execFile(process.execPath, [fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), 'check', '-c', file], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    assert.match(out, /warning: rule readers can never allow anything: rule lockdown denies every request, and deny wins/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
