import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request, type Dispatcher } from 'undici';
import WebSocket from 'ws';
import { SimulatedAirflow, type SimOptions } from '../src/sim/airflow-sim.js';

/** A started simulated node, stopped when the test ends. */
async function sim(t: TestContext, opts: Partial<SimOptions> = {}): Promise<SimulatedAirflow> {
  const s = await new SimulatedAirflow({ name: 'web-1', ...opts }).start();
  t.after(() => s.stop());
  return s;
}

type ReqOpts = Partial<Omit<Dispatcher.RequestOptions, 'origin' | 'path'>>;

/** A client with its own connection pool, closed when the test ends. */
function http(t: TestContext): (url: string, opts?: ReqOpts) => ReturnType<typeof request> {
  const agent = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => agent.destroy());
  return (url, opts = {}) => request(url, { ...opts, dispatcher: agent });
}

/** Poll a condition a bounded number of times (for events that happen on the server side). */
async function waitFor(what: string, cond: () => boolean, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Airflow's heartbeat format: `2024-11-01T12:00:03.123456+00:00`. */
const HEARTBEAT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const HEALTH_KEYS = ['dag_processor', 'metadatabase', 'scheduler', 'triggerer'];

function setCookies(headers: Record<string, string | string[] | undefined>): string[] {
  const v = headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The `name=value` part of the Set-Cookie for `name`. */
function cookie(headers: Record<string, string | string[] | undefined>, name: string): string {
  const c = setCookies(headers).find((x) => x.startsWith(`${name}=`));
  assert.ok(c, `expected a Set-Cookie for ${name}, got ${JSON.stringify(headers['set-cookie'])}`);
  return c.split(';')[0]!;
}

function csrfOf(html: string): string {
  const m = /name="csrf_token" value="([^"]+)"/.exec(html);
  assert.ok(m, `no csrf_token in the login form:\n${html}`);
  return m[1]!;
}

// ---------------------------------------------------------------------------------------------
// Airflow 2 health
// ---------------------------------------------------------------------------------------------

for (const path of ['/health', '/api/v1/health']) {
  test(`airflow 2 ${path}: 200 with the four components, a fresh ISO heartbeat, no auth and no cookie`, async (t) => {
    const s = await sim(t);
    const req = http(t);
    const res = await req(`${s.url}${path}`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.headers['set-cookie'], undefined);
    const body = (await res.body.json()) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(body).sort(), HEALTH_KEYS);
    assert.deepEqual(body.metadatabase, { status: 'healthy' });
    assert.equal(body.scheduler!.status, 'healthy');
    const hb = body.scheduler!.latest_scheduler_heartbeat;
    assert.equal(typeof hb, 'string');
    assert.match(hb as string, HEARTBEAT_RE);
    const age = Date.now() - Date.parse(hb as string);
    assert.ok(age >= 0 && age < 30_000, `heartbeat age ${age} ms should be below the 30 s threshold`);
    assert.deepEqual(body.triggerer, { status: null, latest_triggerer_heartbeat: null });
    assert.deepEqual(body.dag_processor, { status: null, latest_dag_processor_heartbeat: null });
  });
}

test('airflow 2 health: schedulerUnhealthy keeps 200 and reports a stale heartbeat', async (t) => {
  const s = await sim(t);
  const req = http(t);
  s.setFaults({ schedulerUnhealthy: true });
  const res = await req(`${s.url}/health`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(body).sort(), HEALTH_KEYS);
  assert.deepEqual(body.metadatabase, { status: 'healthy' });
  assert.equal(body.scheduler!.status, 'unhealthy');
  const hb = body.scheduler!.latest_scheduler_heartbeat as string;
  assert.match(hb, HEARTBEAT_RE);
  assert.ok(Date.now() - Date.parse(hb) > 30_000, 'an unhealthy scheduler has a heartbeat older than the threshold');
});

test('airflow 2 health: metadbUnhealthy keeps 200 and marks every block unhealthy, dag_processor included', async (t) => {
  const s = await sim(t);
  const req = http(t);
  s.setFaults({ metadbUnhealthy: true });
  const res = await req(`${s.url}/api/v1/health`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(body).sort(), HEALTH_KEYS);
  assert.deepEqual(body.metadatabase, { status: 'unhealthy' });
  assert.deepEqual(body.scheduler, { status: 'unhealthy', latest_scheduler_heartbeat: null });
  // airflow/api/common/airflow_health.py: every job query fails, so every block stays unhealthy.
  assert.deepEqual(body.triggerer, { status: 'unhealthy', latest_triggerer_heartbeat: null });
  assert.deepEqual(body.dag_processor, { status: 'unhealthy', latest_dag_processor_heartbeat: null });
});

// ---------------------------------------------------------------------------------------------
// Airflow 3 paths
// ---------------------------------------------------------------------------------------------

test('airflow 3: /api/v2/monitor/health is 200 with the four components', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const res = await req(`${s.url}/api/v2/monitor/health`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(body).sort(), HEALTH_KEYS);
  assert.equal(body.metadatabase!.status, 'healthy');
  assert.match(body.scheduler!.latest_scheduler_heartbeat as string, HEARTBEAT_RE);

  s.setFaults({ metadbUnhealthy: true });
  const bad = await req(`${s.url}/api/v2/monitor/health`);
  assert.equal(bad.statusCode, 200);
  assert.equal(((await bad.body.json()) as Record<string, Record<string, unknown>>).metadatabase!.status, 'unhealthy');
});

test('airflow 3: /api/v2/version answers without auth', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const res = await req(`${s.url}/api/v2/version`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['git_version', 'version']);
  assert.match(String(body.version), /^3\./);
});

test('airflow 3: /health is 404 "Moved in Airflow 3"', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const res = await req(`${s.url}/health`);
  assert.equal(res.statusCode, 404);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(await res.body.json(), { error: 'Moved in Airflow 3. Please change config to check `/api/v2/monitor/health`' });
});

test('airflow 3: /api/v1/* is 404 "has been removed"', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const res = await req(`${s.url}/api/v1/x`, { headers: { authorization: basic('admin', 'admin') } });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(await res.body.json(), { error: '/api/v1 has been removed in Airflow 3, please use its upgraded version /api/v2 instead.' });
});

test('airflow 3: unknown /api/* is 404 "API route not found"', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const res = await req(`${s.url}/api/foo`);
  assert.equal(res.statusCode, 404);
  assert.deepEqual(await res.body.json(), { error: 'API route not found' });
});

test('airflow 3: any other path is the UI index.html with 200', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  for (const path of ['/', '/dags/example_etl/grid', '/some/deep/link?x=1']) {
    const res = await req(`${s.url}${path}`);
    assert.equal(res.statusCode, 200, path);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    const html = await res.body.text();
    assert.match(html, /<!doctype html>/i);
    assert.match(html, /<div id="root"/);
  }
});

// ---------------------------------------------------------------------------------------------
// Airflow 2 REST API
// ---------------------------------------------------------------------------------------------

test('airflow 2 REST: /api/v1/dags without auth is a 401 problem+json with WWW-Authenticate: Basic', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const res = await req(`${s.url}/api/v1/dags`);
  assert.equal(res.statusCode, 401);
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.headers['www-authenticate'], 'Basic');
  assert.deepEqual(await res.body.json(), {
    detail: null,
    status: 401,
    title: 'Unauthorized',
    type: 'https://airflow.apache.org/docs/apache-airflow/2.10.3/stable-rest-api-ref.html#section/Errors/Unauthenticated',
  });

  const wrong = await req(`${s.url}/api/v1/dags`, { headers: { authorization: basic('admin', 'nope') } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.headers['www-authenticate'], 'Basic');
  await wrong.body.dump();
});

test('airflow 2 REST: /api/v1/dags with basic auth admin:admin lists the DAGs', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const res = await req(`${s.url}/api/v1/dags`, { headers: { authorization: basic('admin', 'admin') } });
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { dags: { dag_id: string }[]; total_entries: number };
  assert.deepEqual(
    body.dags.map((d) => d.dag_id),
    ['example_etl', 'team_a_etl', 'team_b_report'],
  );
  assert.equal(body.total_entries, 3);
});

test('airflow 2 REST: /api/v1 never reads the remote-user header; the session made at GET /login/ does the authenticating', async (t) => {
  // airflow/api_connexion/security.py tries only [api] auth_backends; FAB reads the header only at GET /login/.
  const trusting = await sim(t, { name: 'trusting', remoteUserHeader: 'X-Auth-User', airflow2: { registrationRole: 'User' } });
  const req = http(t);
  const ignored = await req(`${trusting.url}/api/v1/dags`, { headers: { 'x-auth-user': 'alice' } });
  assert.equal(ignored.statusCode, 401, 'the header alone opens nothing on the REST API');
  await ignored.body.dump();

  const login = await req(`${trusting.url}/login/?next=%2Fhome`, { headers: { 'x-auth-user': 'alice' } });
  assert.equal(login.statusCode, 302);
  assert.equal(login.headers.location, '/home');
  const session = cookie(login.headers, 'session');
  await login.body.dump();
  const ok = await req(`${trusting.url}/api/v1/dags`, { headers: { cookie: session } });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['set-cookie'], undefined, 'sessions are not saved for /api/v1');
  assert.equal(((await ok.body.json()) as { total_entries: number }).total_entries, 3);

  const run = await req(`${trusting.url}/api/v1/dags/example_etl/dagRuns`, {
    method: 'POST',
    headers: { cookie: session, 'content-type': 'application/json' },
    body: JSON.stringify({ dag_run_id: 'by-alice' }),
  });
  assert.equal(run.statusCode, 200);
  assert.equal(((await run.body.json()) as { triggered_by: string }).triggered_by, 'alice');
});

test('airflow 2 REST: triggering a dag run returns 200, then 409 for the same dag_run_id', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const trigger = () =>
    req(`${s.url}/api/v1/dags/example_etl/dagRuns`, {
      method: 'POST',
      headers: { authorization: basic('admin', 'admin'), 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'run-1', conf: { a: 1 } }),
    });
  const first = await trigger();
  assert.equal(first.statusCode, 200);
  const run = (await first.body.json()) as Record<string, unknown>;
  assert.equal(run.dag_id, 'example_etl');
  assert.equal(run.dag_run_id, 'run-1');
  assert.equal(run.state, 'queued');
  assert.deepEqual(run.conf, { a: 1 });

  const again = await trigger();
  assert.equal(again.statusCode, 409);
  assert.equal(again.headers['content-type'], 'application/problem+json');
  const problem = (await again.body.json()) as Record<string, unknown>;
  assert.equal(problem.status, 409);
  assert.equal(problem.title, 'Conflict');
  assert.match(String(problem.detail), /run-1.*already exists/);

  const list = await req(`${s.url}/api/v1/dags/example_etl/dagRuns`, { headers: { authorization: basic('admin', 'admin') } });
  assert.equal(list.statusCode, 200);
  assert.equal(((await list.body.json()) as { total_entries: number }).total_entries, 1);
});

// ---------------------------------------------------------------------------------------------
// Airflow 3 tokens
// ---------------------------------------------------------------------------------------------

test('airflow 3: /auth/token gives a JWT that opens /api/v2; a garbage token is 403', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const tok = await req(`${s.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'admin' }),
  });
  assert.equal(tok.statusCode, 201);
  const { access_token } = (await tok.body.json()) as { access_token: string };
  assert.equal(access_token.split('.').length, 3);
  const header = JSON.parse(Buffer.from(access_token.split('.')[0]!, 'base64url').toString()) as { alg: string };
  assert.equal(header.alg, 'HS512');

  const dags = await req(`${s.url}/api/v2/dags`, { headers: { authorization: `Bearer ${access_token}` } });
  assert.equal(dags.statusCode, 200);
  assert.equal(((await dags.body.json()) as { total_entries: number }).total_entries, 3);

  const fromCookie = await req(`${s.url}/api/v2/dags`, { headers: { cookie: `_token=${access_token}` } });
  assert.equal(fromCookie.statusCode, 200);
  await fromCookie.body.dump();

  const garbage = await req(`${s.url}/api/v2/dags`, { headers: { authorization: 'Bearer not.a.token' } });
  assert.equal(garbage.statusCode, 403);
  assert.deepEqual(await garbage.body.json(), { detail: 'Invalid JWT token' });

  const badLogin = await req(`${s.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'wrong' }),
  });
  assert.equal(badLogin.statusCode, 401);
  await badLogin.body.dump();
});

test('airflow 3: a token signed with another jwt_secret is 403', async (t) => {
  const a = await sim(t, { airflow: 3, name: 'a', jwtSecret: 'one' });
  const b = await sim(t, { airflow: 3, name: 'b', jwtSecret: 'two' });
  const req = http(t);
  const tok = await req(`${a.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin' }) });
  const { access_token } = (await tok.body.json()) as { access_token: string };
  const res = await req(`${b.url}/api/v2/dags`, { headers: { authorization: `Bearer ${access_token}` } });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(await res.body.json(), { detail: 'Invalid JWT token' });
});

test('airflow 3: POST dagRuns without logical_date is 422; with logical_date null it is 200', async (t) => {
  const s = await sim(t, { airflow: 3 });
  const req = http(t);
  const tok = await req(`${s.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin' }) });
  const { access_token } = (await tok.body.json()) as { access_token: string };
  const post = (body: unknown) =>
    req(`${s.url}/api/v2/dags/example_etl/dagRuns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const missing = await post({ dag_run_id: 'r1' });
  assert.equal(missing.statusCode, 422);
  const detail = (await missing.body.json()) as { detail: { type: string; loc: string[] }[] };
  assert.equal(detail.detail[0]?.type, 'missing');
  assert.deepEqual(detail.detail[0]?.loc, ['body', 'logical_date']);

  const ok = await post({ dag_run_id: 'r1', logical_date: null });
  assert.equal(ok.statusCode, 200);
  assert.equal(((await ok.body.json()) as { dag_run_id: string }).dag_run_id, 'r1');
});

// ---------------------------------------------------------------------------------------------
// FAB login flow (Airflow 2 UI)
// ---------------------------------------------------------------------------------------------

test('UI: an unauthenticated page redirects to /login/?next=<url-encoded absolute URL>', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const res = await req(`${s.url}/home?tab=1`);
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, `/login/?next=${encodeURIComponent(`http://127.0.0.1:${s.port}/home?tab=1`)}`);
  await res.body.dump();
});

test('UI: login form, wrong password, right password, then the home page shows the user', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const form = await req(`${s.url}/login/?next=%2Fhome`);
  assert.equal(form.statusCode, 200);
  assert.match(String(form.headers['content-type']), /^text\/html/);
  const formSession = cookie(form.headers, 'session');
  assert.ok(setCookies(form.headers).some((c) => /HttpOnly/i.test(c)));
  const html = await form.body.text();
  const csrf = csrfOf(html);
  assert.match(html, /name="username"/);
  assert.match(html, /name="password"/);

  const post = (password: string) =>
    req(`${s.url}/login/?next=%2Fhome`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formSession },
      body: new URLSearchParams({ csrf_token: csrf, username: 'admin', password }).toString(),
    });

  // AuthDBView.login: a wrong password flashes and answers 302 back to /login/?next=…
  const wrong = await post('wrong');
  assert.equal(wrong.statusCode, 302);
  assert.equal(wrong.headers.location, '/login/?next=%2Fhome');
  const flashed = cookie(wrong.headers, 'session');
  await wrong.body.dump();
  const again = await req(`${s.url}${wrong.headers.location}`, { headers: { cookie: flashed } });
  assert.equal(again.statusCode, 200);
  const wrongHtml = await again.body.text();
  assert.ok(wrongHtml.includes('Invalid login. Please try again.'), wrongHtml);
  assert.equal(csrfOf(wrongHtml), csrf, 'the re-rendered form keeps the CSRF token');

  const right = await post('admin');
  assert.equal(right.statusCode, 302);
  assert.equal(right.headers.location, '/home');
  const userSession = cookie(right.headers, 'session');
  assert.notEqual(userSession, formSession);
  await right.body.dump();

  const home = await req(`${s.url}/home`, { headers: { cookie: userSession } });
  assert.equal(home.statusCode, 200);
  const homeHtml = await home.body.text();
  assert.ok(homeHtml.includes('Logged in as admin'), homeHtml);
  assert.ok(homeHtml.includes('example_etl'));
});

test('UI: the CSRF token is also accepted as the X-CSRFToken header; a wrong token is 400', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const form = await req(`${s.url}/login/`);
  const session = cookie(form.headers, 'session');
  const csrf = csrfOf(await form.body.text());
  const viaHeader = await req(`${s.url}/login/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, 'x-csrftoken': csrf },
    body: 'username=admin&password=admin',
  });
  assert.equal(viaHeader.statusCode, 302);
  await viaHeader.body.dump();

  const wrongToken = await req(`${s.url}/login/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session },
    body: 'csrf_token=forged&username=admin&password=admin',
  });
  assert.equal(wrongToken.statusCode, 400);
  await wrongToken.body.dump();
});

test('UI: a node with a different secret_key rejects another node\'s session with "The CSRF session token is missing."', async (t) => {
  const a = await sim(t, { name: 'web-1', secretKey: 'key-one' });
  const b = await sim(t, { name: 'web-2', secretKey: 'key-two' });
  const req = http(t);
  const form = await req(`${a.url}/login/`);
  const session = cookie(form.headers, 'session');
  const csrf = csrfOf(await form.body.text());
  const res = await req(`${b.url}/login/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session },
    body: new URLSearchParams({ csrf_token: csrf, username: 'admin', password: 'admin' }).toString(),
  });
  assert.equal(res.statusCode, 400);
  assert.ok((await res.body.text()).includes('The CSRF session token is missing.'));

  // A node sharing the key accepts the same session.
  const c = await sim(t, { name: 'web-3', secretKey: 'key-one' });
  const ok = await req(`${c.url}/login/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session },
    body: new URLSearchParams({ csrf_token: csrf, username: 'admin', password: 'admin' }).toString(),
  });
  assert.equal(ok.statusCode, 302);
  await ok.body.dump();
});

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

test('fault hang: the request is accepted and never answered; clearing hang ends it', async (t) => {
  const s = await sim(t);
  const req = http(t);
  s.setFaults({ hang: true });
  await assert.rejects(req(`${s.url}/health`, { signal: AbortSignal.timeout(300) }), (err: Error) => {
    assert.equal(err.name, 'TimeoutError');
    return true;
  });

  const before = s.requests;
  const pending = req(`${s.url}/health`).then(
    (res) => ({ status: res.statusCode }),
    (err: Error) => ({ error: err }),
  );
  await waitFor('the hung request to reach the sim', () => s.requests > before);
  s.setFaults({ hang: false });
  const outcome = await pending;
  assert.ok('error' in outcome, `the hung request should end with a connection error, got ${JSON.stringify(outcome)}`);

  const after = await req(`${s.url}/health`);
  assert.equal(after.statusCode, 200);
  await after.body.dump();
});

test('fault hang via POST /_sim/faults: the control endpoint still answers while the node hangs', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const on = await req(`${s.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hang":true}' });
  assert.equal(on.statusCode, 200);
  assert.equal(((await on.body.json()) as { faults: { hang: boolean } }).faults.hang, true);

  const before = s.requests;
  const pending = req(`${s.url}/api/v1/dags`).then(
    (res) => ({ status: res.statusCode }),
    (err: Error) => ({ error: err }),
  );
  await waitFor('the hung request to reach the sim', () => s.requests > before);
  const off = await req(`${s.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hang":false}' });
  assert.equal(off.statusCode, 200);
  await off.body.dump();
  assert.ok('error' in (await pending));
});

test('fault reset: the client sees a socket error', async (t) => {
  const s = await sim(t);
  const req = http(t);
  s.setFaults({ reset: true });
  await assert.rejects(req(`${s.url}/health`), (err: Error & { code?: string }) => {
    assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(String(err.code)), `unexpected error ${err.name} ${err.code}: ${err.message}`);
    return true;
  });
  s.setFaults({ reset: false });
  const ok = await req(`${s.url}/health`);
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
});

test('fault error500: every request is a 500', async (t) => {
  const s = await sim(t);
  const req = http(t);
  s.setFaults({ error500: true });
  for (const path of ['/health', '/api/v1/dags', '/home']) {
    const res = await req(`${s.url}${path}`);
    assert.equal(res.statusCode, 500, path);
    assert.match(await res.body.text(), /Internal Server Error/);
  }
  s.setFaults({ error500: false });
  const ok = await req(`${s.url}/health`);
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
});

test('fault slowMs: answers are delayed by at least that long', async (t) => {
  const s = await sim(t);
  const req = http(t);
  const warm = await req(`${s.url}/health`);
  await warm.body.dump();
  s.setFaults({ slowMs: 200 });
  const t0 = performance.now();
  const res = await req(`${s.url}/health`);
  await res.body.dump();
  const elapsed = performance.now() - t0;
  assert.equal(res.statusCode, 200);
  assert.ok(elapsed >= 190, `expected at least 200 ms, took ${elapsed.toFixed(0)} ms`);
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`);
});

test('POST /_sim/faults: JSON control applies known keys of the right type and ignores the rest', async (t) => {
  const s = await sim(t, { name: 'node-x' });
  const req = http(t);
  const get = await req(`${s.url}/_sim/faults`);
  assert.equal(get.statusCode, 200);
  assert.deepEqual(await get.body.json(), {
    node: 'node-x',
    faults: { hang: false, slowMs: 0, error500: false, unavailable: false, reset: false, schedulerUnhealthy: false, metadbUnhealthy: false },
  });

  const post = await req(`${s.url}/_sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ schedulerUnhealthy: true, slowMs: 'lots', bogus: 1 }),
  });
  assert.equal(post.statusCode, 200);
  const state = (await post.body.json()) as { faults: Record<string, unknown> };
  assert.equal(state.faults.schedulerUnhealthy, true);
  assert.equal(state.faults.slowMs, 0);
  assert.equal('bogus' in state.faults, false);
  assert.equal(s.faults.schedulerUnhealthy, true);

  const health = await req(`${s.url}/health`);
  assert.equal(health.statusCode, 200);
  assert.equal(((await health.body.json()) as { scheduler: { status: string } }).scheduler.status, 'unhealthy');
});

// ---------------------------------------------------------------------------------------------
// Echo and WebSocket
// ---------------------------------------------------------------------------------------------

test('/_sim/echo reports the method, target, headers and the body size and sha256', async (t) => {
  const s = await sim(t, { name: 'echo-node' });
  const req = http(t);
  const body = Buffer.alloc(100_000, 'airflow-');
  const res = await req(`${s.url}/_sim/echo?x=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'X-Custom-Header': 'Value 1', referer: 'https://airflow.example.com/home' },
    body,
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-sim-node'], 'echo-node');
  const echo = (await res.body.json()) as { node: string; method: string; url: string; headers: Record<string, string>; rawHeaders: string[]; bodyBytes: number; sha256: string };
  assert.equal(echo.node, 'echo-node');
  assert.equal(echo.method, 'POST');
  assert.equal(echo.url, '/_sim/echo?x=1');
  assert.equal(echo.headers['x-custom-header'], 'Value 1');
  assert.equal(echo.headers.referer, 'https://airflow.example.com/home');
  assert.equal(echo.headers.host, `127.0.0.1:${s.port}`);
  assert.ok(echo.rawHeaders.includes('X-Custom-Header') || echo.rawHeaders.includes('x-custom-header'));
  assert.equal(echo.bodyBytes, body.length);
  assert.equal(echo.sha256, createHash('sha256').update(body).digest('hex'));
});

test('WebSocket echo at /_sim/ws returns text and binary messages', async (t) => {
  const s = await sim(t, { name: 'ws-node' });
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/_sim/ws`);
  t.after(() => ws.terminate());
  const upgradeHeaders = new Promise<Record<string, string | string[] | undefined>>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)));
  const received: { data: Buffer; isBinary: boolean }[] = [];
  const two = new Promise<void>((resolve, reject) => {
    ws.on('message', (data, isBinary) => {
      received.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary });
      if (received.length === 2) resolve();
    });
    ws.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  assert.equal((await upgradeHeaders)['x-sim-node'], 'ws-node');
  const binary = Buffer.from([0, 1, 2, 254, 255, ...Buffer.alloc(300, 7)]);
  ws.send('hello airflow');
  ws.send(binary);
  await two;
  assert.equal(received[0]!.isBinary, false);
  assert.equal(received[0]!.data.toString(), 'hello airflow');
  assert.equal(received[1]!.isBinary, true);
  assert.deepEqual(received[1]!.data, binary);

  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'bye');
  assert.equal(await closed, 1000);
});

test('WebSocket upgrade on another path is refused with 404', async (t) => {
  const s = await sim(t);
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/not-ws`);
  t.after(() => ws.terminate());
  const status = await new Promise<number>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('open', () => reject(new Error('should not open')));
    ws.on('error', () => undefined);
  });
  assert.equal(status, 404);
});
