import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import { SimulatedAirflow, type SimOptions } from '../src/sim/airflow-sim.js';
import { CookieJar } from './helpers/cookie-jar.js';

/** A started simulated Airflow 2 node, stopped when the test ends. */
async function sim(t: TestContext, opts: Partial<SimOptions> = {}): Promise<SimulatedAirflow> {
  const s = await new SimulatedAirflow({ name: 'web-1', ...opts }).start();
  t.after(() => s.stop());
  return s;
}

/** A browser-like client: one connection pool and one cookie jar. */
function browser(t: TestContext) {
  const agent = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => agent.destroy());
  const jar = new CookieJar();
  return {
    jar,
    async go(url: string, opts: Partial<Omit<Dispatcher.RequestOptions, 'origin' | 'path'>> = {}) {
      const headers = { ...(opts.headers as Record<string, string>), ...(jar.header() ? { cookie: jar.header() } : {}) };
      const res = await request(url, { ...opts, headers, dispatcher: agent });
      jar.keep(res.headers['set-cookie']);
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    },
  };
}

/** airgate's side for the webserver_config.py mode: an ES256 key, its JWKS served over HTTP, assertions. */
async function airgateKeys(t: TestContext) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'airgate-1', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const other = (await generateKeyPair('ES256')).privateKey;
  const sign = (sub: string, role: string, o: { kid?: string; key?: CryptoKey; email?: string } = {}) =>
    new SignJWT({ roles: [role], name: sub, email: o.email ?? `${sub}@example.com`, groups: [] })
      .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'airgate-1' })
      .setIssuer('airgate')
      .setAudience('*/')
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(o.key ?? privateKey);
  /** The headers airgate sends for a user, encoded by its rule (src/pipeline/authenticate.ts). */
  const headers = async (sub: string, role: string, o: { kid?: string; key?: CryptoKey } = {}): Promise<Record<string, string>> => {
    const plain = /^[\x20-\x7e]*$/.test(sub) && !sub.includes('%');
    return { 'x-auth-user': plain ? sub : encodeURIComponent(sub), ...(plain ? {} : { 'x-auth-encoding': 'percent' }), 'x-airgate-assertion': await sign(sub, role, o) };
  };
  return { jwksUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`, headers, other };
}

const csrfOf = (html: string) => /name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? /name="csrf_token" value="([^"]+)"/.exec(html)![1]!;

test('FAB remote user: the header is read only at GET /login/ and not once the session holds a user; POST /logout/ ends it', async (t) => {
  const s = await sim(t, { remoteUserHeader: 'X-Auth-User', airflow2: { registrationRole: 'Viewer' } });
  const b = browser(t);
  const first = await b.go(`${s.url}/home`, { headers: { 'x-auth-user': 'alice' } });
  assert.equal(first.status, 302, 'a page never reads the header');
  assert.match(String(first.headers.location), /^\/login\/\?next=/);
  const login = await b.go(`${s.url}/login/?next=%2Fhome`, { headers: { 'x-auth-user': 'alice' } });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, '/home');
  assert.match((await b.go(`${s.url}/home`)).text, /Logged in as alice<\/p><p id="role">Viewer</, 'created with AUTH_USER_REGISTRATION_ROLE');
  // bob arrives in the same browser: FAB still serves alice, at /login/ too.
  assert.match((await b.go(`${s.url}/home`, { headers: { 'x-auth-user': 'bob' } })).text, /Logged in as alice</);
  const again = await b.go(`${s.url}/login/?next=%2Fhome`, { headers: { 'x-auth-user': 'bob' } });
  assert.equal(again.status, 302);
  assert.match((await b.go(`${s.url}/home`, { headers: { 'x-auth-user': 'bob' } })).text, /Logged in as alice</, 'still alice until Airflow’s own logout');
  assert.equal((await b.go(`${s.url}/login/`, { method: 'POST', headers: { 'x-auth-user': 'bob' } })).status, 405, 'AuthRemoteUserView has no POST');
  assert.equal((await b.go(`${s.url}/logout/`)).status, 405, 'logout is POST only');
  const home = await b.go(`${s.url}/home`);
  assert.equal((await b.go(`${s.url}/logout/`, { method: 'POST' })).status, 400, 'without its CSRF token');
  const out = await b.go(`${s.url}/logout/`, { method: 'POST', headers: { 'x-csrftoken': csrfOf(home.text) } });
  assert.equal(out.status, 302);
  assert.equal(out.headers.location, '/login/');
  await b.go(`${s.url}/login/?next=%2Fhome`, { headers: { 'x-auth-user': 'bob' } });
  assert.match((await b.go(`${s.url}/home`)).text, /Logged in as bob</);
});

test('FAB remote user behind gunicorn < 22: X_Auth_User counts as X-Auth-User, several values joined with a comma', async (t) => {
  const s = await sim(t, { remoteUserHeader: 'X-Auth-User' });
  const b = browser(t);
  await b.go(`${s.url}/login/?next=%2Fhome`, { headers: { X_Auth_User: 'admin' } });
  assert.match((await b.go(`${s.url}/home`)).text, /Logged in as admin</, 'why the gateway drops client headers with "_"');
  const joined = browser(t);
  await joined.go(`${s.url}/login/?next=%2Fhome`, { headers: { 'X-Auth-User': 'viewer', X_Auth_User: 'admin' } });
  assert.equal((await joined.go(`${s.url}/home`)).status, 302, '"viewer,admin" names nobody');
});

test('enable_proxy_fix: X-Forwarded-Prefix becomes the script root of the login redirect (why the gateway strips it)', async (t) => {
  const s = await sim(t);
  const r = await request(`${s.url}/home`, { headers: { 'x-forwarded-prefix': '/evil', 'x-forwarded-host': 'airflow.example', 'x-forwarded-proto': 'https' } });
  assert.equal(r.statusCode, 302);
  assert.equal(r.headers.location, `/evil/login/?next=${encodeURIComponent('https://airflow.example/evil/home')}`);
  await r.body.dump();
});

test('FAB remote user without registration: an unknown user is flashed and sent to next, which sends it back to /login/', async (t) => {
  const s = await sim(t, { remoteUserHeader: 'X-Auth-User' });
  const b = browser(t);
  const login = await b.go(`${s.url}/login/?next=%2Fhome`, { headers: { 'x-auth-user': 'stranger' } });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, '/home');
  const home = await b.go(`${s.url}/home`, { headers: { 'x-auth-user': 'stranger' } });
  assert.equal(home.status, 302);
  assert.match(String(home.headers.location), /^\/login\/\?next=/, 'the redirect loop real FAB produces');
});

test('roles: a Viewer cannot trigger (REST 403 problem+json, UI flash and redirect); only Admin lists users', async (t) => {
  const s = await sim(t);
  const basic = (u: string) => `Basic ${Buffer.from(`${u}:${u}`).toString('base64')}`;
  const trigger = await request(`${s.url}/api/v1/dags/example_etl/dagRuns`, { method: 'POST', headers: { authorization: basic('viewer'), 'content-type': 'application/json' }, body: '{}' });
  assert.equal(trigger.statusCode, 403);
  assert.equal(trigger.headers['content-type'], 'application/problem+json');
  assert.deepEqual(await trigger.body.json(), { detail: null, status: 403, title: 'Forbidden', type: 'https://airflow.apache.org/docs/apache-airflow/2.10.3/stable-rest-api-ref.html#section/Errors/PermissionDenied' });
  assert.equal(s.state.runs.size, 0);
  const users = await request(`${s.url}/api/v1/users`, { headers: { authorization: basic('viewer') } });
  assert.equal(users.statusCode, 403);
  await users.body.dump();
  const asAdmin = await request(`${s.url}/api/v1/users`, { headers: { authorization: basic('admin') } });
  assert.equal(asAdmin.statusCode, 200);
  assert.ok(((await asAdmin.body.json()) as { users: { username: string }[] }).users.some((u) => u.username === 'viewer'));

  const b = browser(t);
  const form = await b.go(`${s.url}/login/`);
  await b.go(`${s.url}/login/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrfOf(form.text)}&username=viewer&password=viewer` });
  const home = await b.go(`${s.url}/home`);
  const ui = await b.go(`${s.url}/dags/example_etl/trigger`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrfOf(home.text)}&conf=%7B%7D` });
  assert.equal(ui.status, 302);
  assert.equal(ui.headers.location, '/');
  assert.match((await b.go(`${s.url}/home`)).text, /Access is Denied/);
  assert.equal(s.state.runs.size, 0, 'nothing was triggered');
  const logs = await b.go(`${s.url}/get_logs_with_metadata?dag_id=example_etl&task_id=extract&try_number=1&format=json`);
  assert.equal(logs.status, 200, 'a Viewer reads task logs: the JSON the log page polls');
  assert.equal((JSON.parse(logs.text) as { metadata: { end_of_log: boolean } }).metadata.end_of_log, true);
});

test('FAB login rate limit: the sixth login POST from one address within 40 s is 429', async (t) => {
  const s = await sim(t);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await request(`${s.url}/login/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.0.2.9' }, body: 'username=admin&password=wrong' });
    statuses.push(r.statusCode);
    await r.body.dump();
  }
  assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429], 'five reach the view (no CSRF token: 400), the sixth is limited');
  const other = await request(`${s.url}/login/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.0.2.10' }, body: 'username=admin&password=wrong' });
  assert.equal(other.statusCode, 400, 'another address is not limited');
  await other.body.dump();
});

test('webserver_config.py mode: the session follows the assertion on every request — user switch, role sync, refused assertions as pages, never a 500', async (t) => {
  const keys = await airgateKeys(t);
  const s = await sim(t, { airflow2: { webserverConfig: true, airgate: { jwksUrl: keys.jwksUrl } } });
  const b = browser(t);
  const alice = await b.go(`${s.url}/home`, { headers: await keys.headers('alice', 'Admin') });
  assert.equal(alice.status, 200, 'logged in on the first page, no /login/ round trip');
  assert.match(alice.text, /Logged in as alice<\/p><p id="role">Admin</);
  const bob = await b.go(`${s.url}/home`, { headers: await keys.headers('bob', 'Op') });
  assert.match(bob.text, /Logged in as bob<\/p><p id="role">Op</, 'the same browser session now serves bob');
  const demoted = await b.go(`${s.url}/home`, { headers: await keys.headers('bob', 'Viewer') });
  assert.match(demoted.text, /Logged in as bob<\/p><p id="role">Viewer</, 'a role change takes effect on the next request');
  assert.equal(s.state.users.get('bob')!.role, 'Viewer');
  // An unknown key id (and a foreign signature) is a 401 page, not a 500, and ends the session.
  const unknownKid = await b.go(`${s.url}/home`, { headers: await keys.headers('bob', 'Viewer', { kid: 'rolled-away' }) });
  assert.equal(unknownKid.status, 401);
  assert.match(unknownKid.text, /401 Not signed in/);
  const anon = await b.go(`${s.url}/home`);
  assert.equal(anon.status, 302, 'the session was ended');
  const forged = await b.go(`${s.url}/home`, { headers: await keys.headers('alice', 'Admin', { key: keys.other }) });
  assert.equal(forged.status, 401);
  const noAssertion = await b.go(`${s.url}/login/?next=%2Fhome`);
  assert.equal(noAssertion.status, 401, 'a 401 page at /login/ instead of the redirect loop');
  const mismatch = await b.go(`${s.url}/home`, { headers: { ...(await keys.headers('alice', 'Admin')), 'x-auth-user': 'mallory' } });
  assert.equal(mismatch.status, 401, 'X-Auth-User must equal the assertion’s sub');
  const noRole = await b.go(`${s.url}/home`, { headers: await keys.headers('carol', 'Superuser') });
  assert.equal(noRole.status, 403, 'a role Airflow lacks is a 403 page');
  const health = await b.go(`${s.url}/health`, { headers: await keys.headers('bob', 'Viewer', { kid: 'rolled-away' }) });
  assert.equal(health.status, 200, '/health is left alone');
});

test('webserver_config.py mode: percent-encoded names are decoded as the Python side does', async (t) => {
  const keys = await airgateKeys(t);
  const s = await sim(t, { airflow2: { webserverConfig: true, airgate: { jwksUrl: keys.jwksUrl } } });
  for (const name of ['José Müller', '李雷']) {
    const b = browser(t);
    const h = await keys.headers(name, 'User');
    assert.equal(h['x-auth-encoding'], 'percent');
    const page = await b.go(`${s.url}/home`, { headers: h });
    assert.equal(page.status, 200);
    assert.ok(page.text.includes(`Logged in as ${name}<`), page.text);
    const raw = await b.go(`${s.url}/home`, { headers: { ...h, 'x-auth-encoding': 'none' } });
    assert.equal(raw.status, 401, 'an encoded value without X-Auth-Encoding does not match the assertion');
  }
});

test('REST API with the airgate backend: 200 as the asserted user with no /login/, 401 problem+json for an unknown key id', async (t) => {
  const keys = await airgateKeys(t);
  const s = await sim(t, { airflow2: { apiAuthBackends: ['airgate', 'session'], airgate: { jwksUrl: keys.jwksUrl } } });
  const ok = await request(`${s.url}/api/v1/dags/example_etl/dagRuns`, { method: 'POST', headers: { ...(await keys.headers('svc-ci', 'User')), 'content-type': 'application/json' }, body: '{"dag_run_id":"ci-1"}' });
  assert.equal(ok.statusCode, 200);
  assert.equal(((await ok.body.json()) as { triggered_by: string }).triggered_by, 'svc-ci');
  assert.equal(ok.headers['set-cookie'], undefined);
  const bad = await request(`${s.url}/api/v1/dags`, { headers: await keys.headers('svc-ci', 'User', { kid: 'nope' }) });
  assert.equal(bad.statusCode, 401);
  assert.equal(bad.headers['content-type'], 'application/problem+json');
  assert.equal(bad.headers['www-authenticate'], undefined, 'the last backend (session) sets no challenge');
  await bad.body.dump();
  const viewer = await request(`${s.url}/api/v1/dags/example_etl/dagRuns`, { method: 'POST', headers: { ...(await keys.headers('val', 'Viewer')), 'content-type': 'application/json' }, body: '{}' });
  assert.equal(viewer.statusCode, 403, 'the asserted role is enforced by Airflow itself');
  await viewer.body.dump();
});
