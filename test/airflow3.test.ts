import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext } from 'playwright-core';
import { fillIdpLogin, launchChromium } from './helpers/browser-login.js';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { request } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { freePort } from './helpers/port.js';
import { DevIdp } from '../src/sim/dev-idp.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import type { Gateway } from '../src/server/gateway.js';
import { dagScope } from '../src/policy/dag-sources.js';
import { matchAudit, refineAudit } from '../src/observability/audit.js';

// Airflow 3 behind airgate, the config-only path: the simulated api-servers run SimpleAuthManager,
// sign their own tokens with an Ed25519 key and trust a JWKS (airgate's /_airgate/jwks.json) that
// holds airgate's key and, through auth.assertion.extra_jwks, their own.

const SESSION_KEY = 'airflow3-test-session-key-0123456789abcdef';
let idp: DevIdp;
let sims: SimulatedAirflow[];
let gw: { gateway: Gateway; url: string };
let browser: Browser;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airflow3-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const own = generateKeyPairSync('ed25519');
  const ownJwk = { ...own.publicKey.export({ format: 'jwk' }), kid: 'airflow-own-1', alg: 'EdDSA', use: 'sig' };
  writeFileSync(join(dir, 'airflow-jwks.json'), JSON.stringify({ keys: [ownJwk] }));
  const state = new AirflowState();
  sims = await Promise.all(
    ['web-1', 'web-2'].map((name) =>
      new SimulatedAirflow({
        name,
        airflow: 3,
        state,
        airflow3: { trustedJwksUrl: `${origin}/_airgate/jwks.json`, privateKey: { key: own.privateKey, kid: 'airflow-own-1', alg: 'EdDSA' }, jwtAlgorithms: ['EdDSA', 'ES256'], loginUrl: '/_airgate/login', logoutUrl: '/_airgate/logout' },
      }).start(),
    ),
  );
  idp = await new DevIdp().start([{ clientId: 'airgate', clientSecret: 'airgate-secret', redirectUris: [`${origin}/_airgate/callback`], postLogoutRedirectUris: [`${origin}/`] }]);
  gw = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:${port} }
auth:
  oidc: { issuer: ${idp.issuer}, client_id: airgate, client_secret: airgate-secret, allow_insecure_issuer: true, scopes: [openid, profile, email, groups] }
  session: { keys: ["${SESSION_KEY}"] }
  assertion: { extra_jwks: ["${join(dir, 'airflow-jwks.json')}"] }
  airflow3_token: { preset: simple-auth-manager }
  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, groups: [airflow-ops] }
  default_role: Viewer
backends:
  airflow:
    airflow: 3
    health: { enabled: false }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, auth: sso }
  - { path: /execution, backend: airflow, auth: passthrough }
  - { path: /auth/token, backend: airflow, auth: passthrough }
`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.gateway.stop(0);
  await idp?.stop();
  await Promise.all((sims ?? []).map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function browserLogin(user: string, path: string): Promise<BrowserContext> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${gw.url}${path}`);
  await fillIdpLogin(page, gw.url, user);
  assert.equal(new URL(page.url()).pathname, path, 'back where the user started');
  return context;
}

/** fetch() from the logged-in page, as the Airflow UI does. */
async function call(context: BrowserContext, path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: string; node: string | null; error: string | null }> {
  const page = context.pages()[0]!;
  return page.evaluate(
    async ([p, m, b]) => {
      const r = await fetch(p, { method: m, headers: { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
      return { status: r.status, body: await r.text(), node: r.headers.get('x-sim-node'), error: r.headers.get('x-airgate-error') };
    },
    [path, method, body] as const,
  );
}

test('Chromium logs in through airgate; Airflow 3 answers the UI API as the user with the user’s role, and refuses a Viewer’s trigger itself', async () => {
  const alice = await browserLogin('alice', '/dags/example_etl');
  const carol = await browserLogin('carol', '/dags/example_etl');
  try {
    const grid = await call(alice, '/ui/grid/structure/example_etl');
    assert.equal(grid.status, 200, grid.body);
    assert.ok((JSON.parse(grid.body) as unknown[]).length > 0, 'the (gzipped) grid decoded in the browser');
    const run = await call(alice, '/api/v2/dags/example_etl/dagRuns', 'POST', { dag_run_id: 'alice-1', logical_date: null });
    assert.equal(run.status, 200, run.body);
    assert.equal((JSON.parse(run.body) as { triggered_by: string }).triggered_by, 'alice', 'Airflow saw alice');

    const read = await call(carol, '/ui/grid/runs/example_etl');
    assert.equal(read.status, 200, 'a Viewer reads');
    const refused = await call(carol, '/api/v2/dags/example_etl/dagRuns', 'POST', { dag_run_id: 'carol-1', logical_date: null });
    assert.deepEqual({ status: refused.status, body: refused.body, error: refused.error }, { status: 403, body: '{"detail":"Forbidden"}', error: null }, 'Airflow’s own authorization, not airgate’s');
    assert.ok(refused.node, 'answered by the simulated Airflow');
  } finally {
    await alice.close();
    await carol.close();
  }
});

test('the token: ES256 with a kid from /_airgate/jwks.json, SimpleAuthManager claims, a few minutes, reused per session; the JWKS also serves the extra key', async () => {
  const bob = await browserLogin('bob', '/dags/example_etl');
  try {
    const auth = gw.gateway.runtime.auth!;
    const cookie = (await bob.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const echo = await request(`${gw.url}/_sim/echo`, { headers: { cookie, authorization: 'Basic Ym9iOng=' } });
    const { headers } = (await echo.body.json()) as { headers: Record<string, string> };
    const token = headers.authorization!.replace(/^Bearer /, '');
    assert.ok(headers.authorization!.startsWith('Bearer '), 'the client’s own Authorization was replaced');
    assert.equal(headers['x-auth-user'], undefined, 'no identity headers for Airflow 3');
    const jwks = (await (await request(`${gw.url}/_airgate/jwks.json`)).body.json()) as { keys: JWK[] };
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, 'ES256');
    assert.ok(
      jwks.keys.some((k) => k.kid === header.kid),
      'its kid is published',
    );
    assert.ok(
      jwks.keys.some((k) => k.kid === 'airflow-own-1'),
      'the extra key is published too',
    );
    const c = decodeJwt(token);
    assert.deepEqual([c.iss, c.aud, c.sub, c.role, c.name, c.email, c.groups], ['airgate', 'apache-airflow', 'bob', 'OP', 'bob', 'bob@example.com', ['airflow-ops', 'team-b']]);
    assert.equal(c.nbf, c.iat);
    assert.ok(c.exp! - c.iat! <= 300 && c.exp! - c.iat! >= 60, 'a few minutes');
    assert.match(String(c.jti), /^[0-9a-f-]{36}$/);
    const signed = auth.airflow3.signed;
    for (let i = 0; i < 5; i++) {
      const r = await request(`${gw.url}/ui/calendar/example_etl`, { headers: { cookie } });
      assert.equal(r.statusCode, 200);
      await r.body.dump();
    }
    assert.equal(auth.airflow3.signed, signed, 'no new signature for the same session');
  } finally {
    await bob.close();
  }
});

test('Airflow 3 login and logout go through airgate; logout ends access at the next request', async () => {
  const carol = await browserLogin('carol', '/dags/example_etl');
  try {
    const cookie = (await carol.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const login = await request(`${gw.url}/api/v2/auth/login?next=${encodeURIComponent(`${gw.url}/dags/x`)}`, { headers: { cookie } });
    assert.equal(login.statusCode, 302);
    assert.equal(login.headers.location, `/_airgate/login?next=${encodeURIComponent(`${gw.url}/dags/x`)}`);
    const fab = await request(`${gw.url}/auth/login/?next=/home`, { headers: { cookie } });
    assert.equal(fab.headers.location, '/_airgate/login?next=%2Fhome');
    const back = await request(`${gw.url}${login.headers.location}`, { headers: { cookie } });
    assert.equal(back.statusCode, 302);
    assert.equal(back.headers.location, '/dags/x', 'a signed-in user goes straight to next');
    const evil = await request(`${gw.url}/_airgate/login?next=https://evil.example/x`, { headers: { cookie } });
    assert.equal(evil.headers.location, '/', 'another origin is never a return target');
    const anon = await request(`${gw.url}/_airgate/login?next=/dags/y`);
    assert.equal(new URL(String(anon.headers.location)).origin, idp.issuer, 'without a session: the IdP');
    for (const r of [login, fab, back, evil, anon]) await r.body.dump();

    const before = await request(`${gw.url}/ui/grid/runs/example_etl`, { headers: { cookie } });
    assert.equal(before.statusCode, 200);
    await before.body.dump();
    const out = await request(`${gw.url}/api/v2/auth/logout`, { headers: { cookie, 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.statusCode, 302);
    assert.match([out.headers['set-cookie']].flat().join('\n'), /^_token=; Path=\/; Max-Age=0/m, 'Airflow’s _token is expired');
    await out.body.dump();
    const after = await request(`${gw.url}/ui/grid/runs/example_etl`, { headers: { cookie } });
    assert.equal(after.statusCode, 401, 'the next request has no access');
    assert.equal(after.headers['x-airgate-error'], 'AIRGATE_ERR_UNAUTHENTICATED');
    await after.body.dump();
  } finally {
    await carol.close();
  }
});

test('a worker’s /execution call keeps its own token; Refreshed-API-Token comes back; Airflow’s own tokens verify against the shared JWKS', async () => {
  const worker = await sims[0]!.v3.workerToken('ti-9');
  const run = await request(`${gw.url}/execution/task-instances/ti-9/run`, { method: 'PATCH', headers: { authorization: `Bearer ${worker}` } });
  assert.equal(run.statusCode, 200, 'the Execution API accepted the worker’s own token (airgate’s would have the wrong audience)');
  assert.ok(run.headers['refreshed-api-token'], 'passed back to the worker');
  await run.body.dump();
  const tok = await request(`${gw.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"admin","password":"admin"}' });
  assert.equal(tok.statusCode, 201);
  const { access_token } = (await tok.body.json()) as { access_token: string };
  assert.equal(decodeProtectedHeader(access_token).kid, 'airflow-own-1');
  const direct = await request(`${sims[1]!.url}/api/v2/dags`, { headers: { authorization: `Bearer ${access_token}` } });
  assert.equal(direct.statusCode, 200, 'Airflow’s own token verifies with the JWKS airgate serves');
  await direct.body.dump();
});

test('DAG-scoped policy and the audit log read the Airflow 3 UI API paths and /api/v2/backfills', () => {
  for (const p of ['/ui/grid/structure/team_a_etl', '/ui/grid/runs/team_a_etl', '/ui/grid/ti_summaries/team_a_etl/run_1', '/ui/calendar/team_a_etl']) assert.deepEqual(dagScope('GET', p, ''), { kind: 'ids', ids: ['team_a_etl'] }, p);
  assert.deepEqual(dagScope('GET', '/api/v2/backfills', '?dag_id=team_a_etl'), { kind: 'ids', ids: ['team_a_etl'] });
  assert.deepEqual(dagScope('POST', '/api/v2/backfills', ''), { kind: 'body', query: [], emptyMeansAll: false });
  const create = matchAudit('POST', '/api/v2/backfills')!;
  refineAudit(create, Buffer.from(JSON.stringify({ dag_id: 'team_a_etl', from_date: '2024-01-01', to_date: '2024-01-02' })));
  assert.deepEqual(create, { action: 'backfill.create', resource: { dag_id: 'team_a_etl' } });
  assert.deepEqual(matchAudit('PUT', '/api/v2/backfills/7/pause'), { action: 'backfill.pause', resource: { backfill_id: '7' } });
});
