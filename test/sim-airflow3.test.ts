import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Agent, request } from 'undici';
import { SimulatedAirflow, type SimOptions } from '../src/sim/airflow-sim.js';

// The simulated Airflow 3 against the facts of shared/airflow-facts.md (JWTValidator, security.py,
// SimpleAuthManager, GZipMiddleware, log continuation tokens, login/logout redirects).

interface Keys {
  dir: string;
  jwksFile: string;
  key: CryptoKey;
  sign(claims: Record<string, unknown>, opts?: { kid?: string | null; key?: CryptoKey }): Promise<string>;
}

async function keys(t: TestContext): Promise<Keys> {
  const dir = mkdtempSync(join(tmpdir(), 'sim3-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'gw-1', alg: 'ES256', use: 'sig' }] }));
  return {
    dir,
    jwksFile,
    key: privateKey,
    sign: (claims, o = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', ...(o.kid === null ? {} : { kid: o.kid ?? 'gw-1' }) }).sign(o.key ?? privateKey),
  };
}

async function sim(t: TestContext, opts: Partial<SimOptions> = {}): Promise<SimulatedAirflow> {
  const s = await new SimulatedAirflow({ name: 'web-1', airflow: 3, ...opts }).start();
  t.after(() => s.stop());
  return s;
}

function client(t: TestContext) {
  const agent = new Agent();
  t.after(() => agent.close());
  return (url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET', body?: string) => request(url, { dispatcher: agent, headers, method, body });
}

const now = () => Math.floor(Date.now() / 1000);
const good = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', role: 'ADMIN', aud: 'apache-airflow', iat: now(), nbf: now(), exp: now() + 300, ...extra });

test('airflow 3 sim: JWTValidator semantics — required exp/iat/nbf, audience, issuer when set, leeway 10 s, kid against the JWKS', async (t) => {
  const k = await keys(t);
  const s = await sim(t, { airflow3: { trustedJwksUrl: k.jwksFile, jwtIssuer: 'airgate' } });
  const get = client(t);
  const ask = async (token: string) => {
    const r = await get(`${s.url}/api/v2/dags`, { authorization: `Bearer ${token}` });
    const text = await r.body.text();
    return { status: r.statusCode, body: r.statusCode === 500 ? text : (JSON.parse(text) as unknown) };
  };
  const ok = await ask(await k.sign(good({ iss: 'airgate' })));
  assert.equal(ok.status, 200);
  for (const missing of ['exp', 'iat', 'nbf']) {
    const c = good({ iss: 'airgate' }) as Record<string, unknown>;
    delete c[missing];
    assert.deepEqual(await ask(await k.sign(c)), { status: 403, body: { detail: 'Invalid JWT token' } }, `without ${missing}`);
  }
  assert.deepEqual(await ask(await k.sign(good({ iss: 'airgate', aud: 'airgate-route' }))), { status: 403, body: { detail: 'Invalid JWT token' } }, 'another audience');
  assert.deepEqual(await ask(await k.sign(good({ iss: 'someone-else' }))), { status: 403, body: { detail: 'Invalid JWT token' } }, 'another issuer');
  assert.deepEqual(await ask(await k.sign(good({ iss: 'airgate', exp: now() - 30 }))), { status: 401, body: { detail: 'Token Expired' } });
  assert.equal((await ask(await k.sign(good({ iss: 'airgate', exp: now() - 5 })))).status, 200, 'within the 10 s leeway');
  assert.deepEqual(await ask(await k.sign(good({ iss: 'airgate' }), { kid: null })), { status: 403, body: { detail: 'Invalid JWT token' } }, 'no kid with a JWKS');
  const unknown = await ask(await k.sign(good({ iss: 'airgate' }), { kid: 'not-in-the-set' }));
  assert.equal(unknown.status, 500, 'an unknown kid is a KeyError: 500, not 401');
  const other = await generateKeyPair('ES256');
  assert.deepEqual(await ask(await k.sign(good({ iss: 'airgate' }), { key: other.privateKey })), { status: 403, body: { detail: 'Invalid JWT token' } }, 'a forged signature');
  const none = await get(`${s.url}/api/v2/dags`);
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer');
  assert.deepEqual(await none.body.json(), { detail: 'Not authenticated' });
  const ui = await get(`${s.url}/ui/grid/runs/example_etl`);
  assert.equal(ui.statusCode, 401);
  assert.match(String(ui.headers['content-type']), /^application\/json/);
  assert.deepEqual(await ui.body.json(), { detail: 'Not authenticated' });
});

test('airflow 3 sim: SimpleAuthManager roles — a VIEWER reads but may not trigger (403 Forbidden), USER triggers, only OP backfills, bad role is 500', async (t) => {
  const k = await keys(t);
  const s = await sim(t, { airflow3: { trustedJwksUrl: k.jwksFile } });
  const send = client(t);
  const as = async (role: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown) => {
    const claims = good({ sub: `u-${role}`, role });
    const r = await send(`${s.url}${path}`, { authorization: `Bearer ${await k.sign(claims)}`, 'content-type': 'application/json' }, method, body === undefined ? undefined : JSON.stringify(body));
    const text = await r.body.text();
    return { status: r.statusCode, body: text };
  };
  assert.equal((await as('VIEWER', 'GET', '/ui/grid/structure/example_etl')).status, 200);
  assert.deepEqual(await as('VIEWER', 'POST', '/api/v2/dags/example_etl/dagRuns', { logical_date: null }), { status: 403, body: '{"detail":"Forbidden"}' });
  const user = await as('USER', 'POST', '/api/v2/dags/example_etl/dagRuns', { dag_run_id: 'r-user', logical_date: null });
  assert.equal(user.status, 200);
  assert.equal((JSON.parse(user.body) as { triggered_by: string }).triggered_by, 'u-USER');
  assert.equal((await as('USER', 'POST', '/api/v2/backfills', { dag_id: 'example_etl' })).status, 403);
  assert.equal((await as('OP', 'POST', '/api/v2/backfills', { dag_id: 'example_etl' })).status, 200);
  assert.equal((await as('OP', 'GET', '/api/v2/connections')).status, 200);
  assert.equal((await as('USER', 'GET', '/api/v2/variables')).status, 403);
  assert.equal((await as('Viewer', 'GET', '/api/v2/dags')).status, 200, 'SimpleAuthManager upper-cases the role');
  assert.equal((await as('PUBLIC', 'GET', '/api/v2/dags')).status, 500, 'SimpleAuthManagerRole["PUBLIC"] is a KeyError');
  assert.equal((await as(undefined, 'GET', '/api/v2/dags')).status, 500, 'deserialize_user needs role');
});

test('airflow 3 sim: gzip for ≥ 1 KB, login 307 with a safe next, logout 307 deleting _token, /auth/* reaches the auth manager', async (t) => {
  const s = await sim(t, { airflow3: { loginUrl: '/_airgate/login' } });
  const get = client(t);
  const tok = await get(`${s.url}/auth/token`, { 'content-type': 'application/json' }, 'POST', '{"username":"viewer","password":"viewer"}');
  assert.equal(tok.statusCode, 201);
  const { access_token } = (await tok.body.json()) as { access_token: string };
  const big = await get(`${s.url}/ui/grid/structure/example_etl`, { authorization: `Bearer ${access_token}`, 'accept-encoding': 'gzip' });
  assert.equal(big.statusCode, 200);
  assert.equal(big.headers['content-encoding'], 'gzip');
  const tasks = JSON.parse(gunzipSync(Buffer.from(await big.body.arrayBuffer())).toString()) as unknown[];
  assert.ok(JSON.stringify(tasks).length >= 1024);
  const small = await get(`${s.url}/ui/calendar/example_etl`, { authorization: `Bearer ${access_token}`, 'accept-encoding': 'gzip' });
  assert.equal(small.headers['content-encoding'], undefined, 'under 1 KB stays plain');
  await small.body.dump();
  const login = await get(`${s.url}/api/v2/auth/login?next=${encodeURIComponent(`${s.url}/dags/x`)}`, { host: `127.0.0.1:${s.port}` });
  assert.equal(login.statusCode, 307);
  assert.equal(login.headers.location, `/_airgate/login?next=${encodeURIComponent(`${s.url}/dags/x`)}`);
  const unsafe = await get(`${s.url}/api/v2/auth/login?next=https://evil.example/`);
  assert.equal(unsafe.statusCode, 400);
  assert.deepEqual(await unsafe.body.json(), { detail: 'Invalid or unsafe next URL' });
  const logout = await get(`${s.url}/api/v2/auth/logout`);
  assert.equal(logout.statusCode, 307);
  assert.match(String(logout.headers['set-cookie']), /^_token=""; .*Max-Age=0/);
  const page = await get(`${s.url}/auth/login`);
  assert.equal(page.statusCode, 200);
  assert.match(await page.body.text(), /simple-auth-manager/);
});

test('airflow 3 sim: a log continuation token from a node with another secret_key is 400 "Bad Signature"', async (t) => {
  const a = await sim(t, { name: 'a', secretKey: 'key-a' });
  const b = await sim(t, { name: 'b', secretKey: 'key-b' });
  const get = client(t);
  const tokenOf = async (s: SimulatedAirflow) => ((await (await get(`${s.url}/auth/token`, { 'content-type': 'application/json' }, 'POST', '{"username":"admin","password":"admin"}')).body.json()) as { access_token: string }).access_token;
  const logs = '/api/v2/dags/example_etl/dagRuns/r1/taskInstances/t1/logs/1';
  const first = await get(`${a.url}${logs}`, { authorization: `Bearer ${await tokenOf(a)}` });
  assert.equal(first.statusCode, 200);
  const { continuation_token } = (await first.body.json()) as { continuation_token: string };
  const same = await get(`${a.url}${logs}?token=${continuation_token}`, { authorization: `Bearer ${await tokenOf(a)}` });
  assert.equal(same.statusCode, 200, 'the node that signed it reads it');
  await same.body.dump();
  const other = await get(`${b.url}${logs}?token=${continuation_token}`, { authorization: `Bearer ${await tokenOf(b)}` });
  assert.equal(other.statusCode, 400);
  assert.deepEqual(await other.body.json(), { detail: 'Bad Signature. Please use only the tokens provided by the API.' });
});

test('airflow 3 sim: the Execution API takes only task tokens and sends Refreshed-API-Token near expiry and on /run', async (t) => {
  const s = await sim(t);
  const send = client(t);
  const long = await s.v3.workerToken('ti-1', 600);
  const hb = await send(`${s.url}/execution/task-instances/ti-1/heartbeat`, { authorization: `Bearer ${long}` });
  assert.equal(hb.statusCode, 200);
  assert.equal(hb.headers['refreshed-api-token'], undefined, 'a fresh token is not re-issued');
  await hb.body.dump();
  const run = await send(`${s.url}/execution/task-instances/ti-1/run`, { authorization: `Bearer ${long}` });
  assert.ok(run.headers['refreshed-api-token'], '/run always gets one');
  await run.body.dump();
  const ui = (await (await send(`${s.url}/auth/token`, { 'content-type': 'application/json' }, 'POST', '{"username":"admin","password":"admin"}')).body.json()) as { access_token: string };
  const wrongAud = await send(`${s.url}/execution/task-instances/ti-1/heartbeat`, { authorization: `Bearer ${ui.access_token}` });
  assert.equal(wrongAud.statusCode, 403);
  assert.match(((await wrongAud.body.json()) as { detail: string }).detail, /^Invalid auth token/);
});
