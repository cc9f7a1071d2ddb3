import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { fillIdpLogin, launchChromium } from './helpers/browser-login.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { freePort } from './helpers/port.js';
import { waitFor } from './helpers/wait.js';
import { CookieJar } from './helpers/cookie-jar.js';
import { DEMO_USERS, DevIdp, type DevUser } from '../src/sim/dev-idp.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { Gateway } from '../src/server/gateway.js';
import { controlCharacterIn } from '../src/auth/authenticator.js';

/** The demo users plus names real directories hold (issue 20) and one with a control character. */
const USERS: Record<string, DevUser> = {
  ...DEMO_USERS,
  'José Müller': { email: 'jose.mueller@example.com', name: 'José Müller', groups: ['team-a'] },
  李雷: { email: 'li.lei@example.com', name: '李雷', groups: ['team-b'] },
  eve: { email: 'eve@example.com', name: 'Eve', groups: ['ops\u0007'] },
};

let idp: DevIdp;
let sim: SimulatedAirflow;
let dbSim: SimulatedAirflow;
let gw: { gateway: Gateway; url: string };
let browser: Browser;
let machine: { server: Server; sign: (groups: string[]) => Promise<string> };

before(async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Airflow 2 with airflow/webserver_config.py and airgate_api_auth.py installed, trusting this gateway's JWKS.
  sim = await new SimulatedAirflow({ name: 'web-1', airflow2: { webserverConfig: true, apiAuthBackends: ['airgate', 'session'], airgate: { jwksUrl: `${origin}/_airgate/jwks.json` } } }).start();
  // A plain Airflow 2 with its own password form (AUTH_DB).
  dbSim = await new SimulatedAirflow({ name: 'db-1' }).start();
  idp = await new DevIdp(USERS).start([{ clientId: 'airgate', clientSecret: 'airgate-secret', redirectUris: [`${origin}/_airgate/callback`], postLogoutRedirectUris: [`${origin}/`] }]);
  const mk = await generateKeyPair('ES256', { extractable: true });
  const mPub = { ...(await exportJWK(mk.publicKey)), kid: 'm1', alg: 'ES256', use: 'sig' };
  const mServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [mPub] })));
  mServer.listen(0, '127.0.0.1');
  await once(mServer, 'listening');
  const mUrl = `http://127.0.0.1:${(mServer.address() as { port: number }).port}`;
  machine = { server: mServer, sign: (groups) => new SignJWT({ iss: 'https://ci.example/issuer', aud: 'airflow-api', sub: 'svc-ci', groups }).setProtectedHeader({ alg: 'ES256', kid: 'm1' }).setIssuedAt().setExpirationTime('5m').sign(mk.privateKey) };
  gw = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:${port} }
auth:
  oidc: { issuer: ${idp.issuer}, client_id: airgate, client_secret: airgate-secret, allow_insecure_issuer: true, scopes: [openid, profile, email, groups] }
  session: { keys: ["airflow2-identity-session-key-0123456789"] }
  bearer:
    - { issuer: "https://ci.example/issuer", jwks_url: "${mUrl}/jwks", audiences: [airflow-api] }
  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, email_domains: [example.com] }
  default_role: Viewer
trusted_proxies: [127.0.0.0/8]
login_protection: { max_failures: 5, window: 1m, lockout: 1m }
backends:
  airflow: { health: { enabled: false }, servers: [{ name: web-1, url: ${sim.url} }] }
  dbairflow: { health: { enabled: false }, servers: [{ name: db-1, url: ${dbSim.url} }] }
routes:
  - { path: /, backend: airflow, auth: sso }
  - { host: db.test, path: /, backend: dbairflow, auth: none }
`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.gateway.stop(0);
  await idp?.stop();
  await sim?.stop();
  await dbSim?.stop();
  machine?.server.close();
});

/** Fill the development IdP's login form (and its consent) in `page`, which is at the IdP. */
async function idpLogin(page: Page, user: string): Promise<void> {
  await fillIdpLogin(page, gw.url, user);
}

async function browserLogin(user: string, path: string, context?: BrowserContext): Promise<{ context: BrowserContext; page: Page }> {
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  await page.goto(`${gw.url}${path}`);
  await idpLogin(page, user);
  return { context: ctx, page };
}

type Fetched = { status: number; type: string | null; body: Record<string, unknown> };
const fetchJson = (page: Page, path: string, init: RequestInit = {}) =>
  page.evaluate(
    async ([p, i]) => {
      const r = await fetch(p, { redirect: 'manual', ...i });
      const text = await r.text();
      return { status: r.status, type: r.headers.get('content-type'), body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    },
    [path, init] as const,
  ) as Promise<Fetched>;

test('alice logs in, logs out of airgate, bob logs in in the same browser: Airflow shows bob with bob’s role on the first page and refuses him an Admin-only action', async () => {
  const { context, page } = await browserLogin('alice', '/home');
  try {
    assert.equal(new URL(page.url()).pathname, '/home');
    assert.match((await page.textContent('#user'))!, /Logged in as alice$/);
    assert.equal(await page.textContent('#role'), 'Admin');
    assert.equal((await fetchJson(page, '/api/v1/users')).status, 200, 'alice (Admin) may list users');
    const aliceAirflowSession = (await context.cookies()).find((c) => c.name === 'session');
    assert.ok(aliceAirflowSession, 'Airflow made a session for alice');
    // airgate's logout, then the IdP's end-session confirmation.
    await page.goto(`${gw.url}/_airgate/logout`);
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    assert.ok(!(await context.cookies()).some((c) => c.name === 'session'), "airgate's logout expired Airflow's session cookie");
    await page.click('button[value="yes"], button[type="submit"]');
    await page.waitForURL((u) => !u.href.startsWith(`${idp.issuer}/session/end`));
    // Even a browser that kept alice's Airflow session (say, logged out elsewhere) gets bob: the session follows the assertion.
    await context.addCookies([aliceAirflowSession]);
    await page.goto(`${gw.url}/home`);
    await idpLogin(page, 'bob');
    assert.equal(new URL(page.url()).pathname, '/home');
    assert.match((await page.textContent('#user'))!, /Logged in as bob$/, 'the first page after the switch shows bob');
    assert.equal(await page.textContent('#role'), 'Op');
    const users = await fetchJson(page, '/api/v1/users');
    assert.equal(users.status, 403, 'Airflow itself refuses bob (Op) the Admin-only user list');
    assert.equal(users.type, 'application/problem+json');
    assert.equal(users.body.title, 'Forbidden');
    const run = await fetchJson(page, '/api/v1/dags/example_etl/dagRuns', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"dag_run_id":"by-bob"}' });
    assert.equal(run.status, 200);
    assert.equal(run.body.triggered_by, 'bob', 'the API acts as bob too');
  } finally {
    await context.close();
  }
});

test('the REST API answers 200 as the logged-in user with no prior visit to /login/', async () => {
  const { context } = await browserLogin('carol', '/_sim/echo');
  try {
    assert.ok(!(await context.cookies()).some((c) => c.name === 'session'), 'Airflow never made a UI session');
    const dags = await context.request.get(`${gw.url}/api/v1/dags`);
    assert.equal(dags.status(), 200);
    assert.equal(((await dags.json()) as { total_entries: number }).total_entries >= 1, true);
    const trigger = await context.request.post(`${gw.url}/api/v1/dags/example_etl/dagRuns`, { data: { dag_run_id: 'by-carol' } });
    assert.equal(trigger.status(), 403, 'carol is a Viewer in Airflow too');
  } finally {
    await context.close();
  }
});

test('a role change takes effect at the next request, with the same Airflow session', async () => {
  const jar = new CookieJar();
  const agent = new Agent();
  try {
    const page = async (groups: string[]) => {
      const r = await request(`${gw.url}/home`, { dispatcher: agent, headers: { authorization: `Bearer ${await machine.sign(groups)}`, cookie: jar.header() } });
      jar.keep(r.headers['set-cookie']);
      return r.body.text();
    };
    assert.match(await page(['airflow-admins']), /Logged in as svc-ci<\/p><p id="role">Admin</);
    const airflowSession = jar.get('session');
    assert.ok(airflowSession, 'Airflow made its session');
    assert.match(await page([]), /Logged in as svc-ci<\/p><p id="role">Viewer</, 'the next request carries the new role');
    assert.equal(sim.state.users.get('svc-ci')!.role, 'Viewer');
  } finally {
    await agent.close();
  }
});

for (const name of ['José Müller', '李雷']) {
  test(`issue 20: a Chromium login as ${name} reaches Airflow with the right name`, async () => {
    const { context, page } = await browserLogin(name, '/home');
    try {
      assert.equal(new URL(page.url()).pathname, '/home');
      assert.equal(await page.textContent('#user'), `Logged in as ${name}`);
      assert.equal(await page.textContent('#role'), 'Op');
      assert.equal(sim.state.users.get(name)?.role, 'Op', 'Airflow’s user is named exactly so');
    } finally {
      await context.close();
    }
  });
}

test('issue 20: a group with a control character is refused at login with a clear error', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const answers: number[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(`${gw.url}/_airgate/callback`)) answers.push(r.status());
    });
    await page.goto(`${gw.url}/home`);
    await idpLogin(page, 'eve');
    assert.deepEqual(answers, [401]);
    assert.match((await page.textContent('body'))!, /sent a group with a control character/);
    assert.ok(!(await context.cookies()).some((c) => c.name === 'airgate_session'), 'no session was made');
  } finally {
    await context.close();
  }
});

test('issue 20: which identity value holds a control character (C0, DEL, C1); non-Latin names hold none', () => {
  assert.equal(controlCharacterIn('ali\u0000ce', undefined, []), 'user name');
  assert.equal(controlCharacterIn('alice', 'alice\r\n@example.com', []), 'e-mail address');
  assert.equal(controlCharacterIn('alice', 'alice@example.com', ['ok', 'bad\u007f']), 'group');
  assert.equal(controlCharacterIn('alice', undefined, ['c1\u0085']), 'group');
  assert.equal(controlCharacterIn('José Müller', 'li.lei@example.com', ['李雷', 'team 😀']), undefined);
});

test('issue 20 #4: a page’s fetch() gets 401 JSON, never a redirect; API paths are recognised after normalization', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${gw.url}/_airgate/health`);
    for (const mode of ['cors', 'same-origin'] as const) {
      const r = await fetchJson(page, '/home', { mode });
      assert.equal(r.status, 401, mode);
      assert.match(String(r.type), /json/);
      assert.equal(r.body.code, 'AIRGATE_ERR_UNAUTHENTICATED');
    }
    for (const path of ['//api/v1/dags', '/API/v1/dags', '/api/./v1/dags']) {
      const r = await request(`${gw.url}${path}`, { headers: { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' } });
      assert.equal(r.statusCode, 401, path);
      await r.body.dump();
    }
  } finally {
    await context.close();
  }
});

test('12 wrong passwords through Airflow’s own form end in a lockout (429 AIRGATE_ERR_LOGIN_LOCKED)', async () => {
  const jar = new CookieJar();
  const agent = new Agent();
  try {
    const form = await request(`${gw.url}/login/`, { dispatcher: agent, headers: { host: 'db.test' } });
    jar.keep(form.headers['set-cookie']);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const before = dbSim.requests;
    const results: string[] = [];
    for (let i = 0; i < 12; i++) {
      if (i === 5) await waitFor(() => gw.gateway.runtime.loginGuard.lockedFor(['ip:198.51.100.12'], Date.now()) > 0, 'the lockout after five failures');
      const r = await request(`${gw.url}/login/?next=%2Fhome`, {
        dispatcher: agent,
        method: 'POST',
        headers: { host: 'db.test', 'x-forwarded-for': '198.51.100.12', cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf_token=${csrf}&username=admin&password=wrong-${i}`,
      });
      results.push(r.statusCode === 302 ? `302 ${String(r.headers.location)}` : `${r.statusCode} ${String(r.headers['x-airgate-error'])}`);
      await r.body.dump();
    }
    assert.deepEqual(results, [...Array<string>(5).fill('302 /login/?next=%2Fhome'), ...Array<string>(7).fill('429 AIRGATE_ERR_LOGIN_LOCKED')]);
    assert.equal(dbSim.requests - before, 5, 'the locked-out attempts never reached Airflow');
  } finally {
    await agent.close();
  }
});
