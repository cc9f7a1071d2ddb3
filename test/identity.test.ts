import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { type Browser } from 'playwright-core';
import { fillIdpLogin, launchChromium } from './helpers/browser-login.js';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { request } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { freePort } from './helpers/port.js';
import { waitFor } from './helpers/wait.js';
import { DevIdp } from '../src/sim/dev-idp.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { Gateway } from '../src/server/gateway.js';

const SESSION_KEY = 'identity-test-session-key-0123456789abcdef';

let idp: DevIdp;
let sims: SimulatedAirflow[];
let gw: { gateway: Gateway; url: string };
let gatewayYaml = '';
let browser: Browser;
let idpSigningKey: JWK;
let machine: { server: Server; url: string; sign: (claims: Record<string, unknown>) => Promise<string> };

before(async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // airflow/webserver_config.py installed: Airflow's session follows airgate's assertion (verified against the gateway's JWKS).
  sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name, airflow2: { webserverConfig: true, airgate: { jwksUrl: `${origin}/_airgate/jwks.json` } } }).start()));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  idpSigningKey = { ...(await exportJWK(privateKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  idp = await new DevIdp().start([{ clientId: 'airgate', clientSecret: 'airgate-secret', redirectUris: [`${origin}/_airgate/callback`], postLogoutRedirectUris: [`${origin}/`], backchannelLogoutUri: `${origin}/_airgate/backchannel-logout` }], {
    jwks: { keys: [idpSigningKey] },
  });
  // A second issuer for machine tokens: its JWKS served over HTTP.
  const mk = await generateKeyPair('ES256', { extractable: true });
  const mPub = { ...(await exportJWK(mk.publicKey)), kid: 'm1', alg: 'ES256', use: 'sig' };
  const mServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [mPub] })));
  mServer.listen(0, '127.0.0.1');
  await once(mServer, 'listening');
  const mUrl = `http://127.0.0.1:${(mServer.address() as { port: number }).port}`;
  machine = {
    server: mServer,
    url: mUrl,
    sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'm1' }).setIssuedAt().setExpirationTime('5m').sign(mk.privateKey),
  };
  gatewayYaml = `listeners:
  - { name: public, address: 127.0.0.1:${port} }
auth:
  oidc:
    issuer: ${idp.issuer}
    client_id: airgate
    client_secret: airgate-secret
    allow_insecure_issuer: true
    scopes: [openid, profile, email, groups, offline_access]
  session: { keys: ["${SESSION_KEY}"] }
  bearer:
    - { issuer: "https://ci.example/issuer", jwks_url: "${mUrl}/jwks", audiences: [airflow-api] }
  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, email_domains: [example.com] }
  default_role: Viewer
backends:
  airflow:
    health: { enabled: false }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, auth: sso }
  - { host: public.test, path: /, backend: airflow, auth: none }
  - { host: exec.test, path: /, backend: airflow, auth: passthrough }
  - { host: machine.test, path: /, backend: airflow, auth: bearer }
`;
  gw = await startGateway(gatewayYaml);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gw?.gateway.stop(0);
  await idp?.stop();
  await Promise.all((sims ?? []).map((s) => s.stop()));
  machine?.server.close();
});

type Echo = { headers: Record<string, string> };

/** Log in through the real browser; returns the page (on the gateway) and its context. */
async function browserLogin(user: string, path = '/_sim/echo') {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${gw.url}${path}`);
  await fillIdpLogin(page, gw.url, user);
  return { context, page };
}

test('a real browser logs in through the IdP and Airflow sees the user, the role and a valid signed assertion', async () => {
  const { context, page } = await browserLogin('alice');
  try {
    assert.equal(new URL(page.url()).pathname, '/_sim/echo', 'back where the user started');
    const echo = JSON.parse((await page.textContent('body'))!) as Echo;
    assert.equal(echo.headers['x-auth-user'], 'alice');
    assert.equal(echo.headers['x-auth-email'], 'alice@example.com');
    assert.equal(echo.headers['x-auth-roles'], 'Admin');
    assert.equal(echo.headers['x-auth-groups'], 'airflow-admins,team-a');
    const jwks = (await (await request(`${gw.url}/_airgate/jwks.json`)).body.json()) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(echo.headers['x-airgate-assertion']!, createLocalJWKSet(jwks), { issuer: 'airgate', audience: '*/' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.roles, ['Admin']);
    assert.ok(payload.exp! - payload.iat! <= 60, 'a short expiry');
    assert.ok(!String(echo.headers.cookie ?? '').includes('airgate_session'), 'airgate’s session cookie never reaches Airflow');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'airgate_session')!;
    assert.ok(session.httpOnly && session.value.length < 4096, 'HttpOnly, under 4 KB');
    // Airflow (webserver_config.py) verifies the assertion and logs the user in: its UI shows the user and the role.
    await page.goto(`${gw.url}/login/`);
    assert.match((await page.textContent('#user'))!, /Logged in as alice/);
    assert.equal(await page.textContent('#role'), 'Admin');
    // userinfo
    const info = await page.goto(`${gw.url}/_airgate/userinfo`);
    assert.deepEqual(await info!.json(), { sub: 'alice', user: 'alice', email: 'alice@example.com', groups: ['airflow-admins', 'team-a'], role: 'Admin', auth: 'oidc' });
  } finally {
    await context.close();
  }
});

test('roles map by group, then by email domain, then the default', async () => {
  for (const [user, role] of [
    ['bob', 'Op'],
    ['carol', 'Viewer'],
  ] as const) {
    const { context, page } = await browserLogin(user);
    try {
      const echo = JSON.parse((await page.textContent('body'))!) as Echo;
      assert.equal(echo.headers['x-auth-roles'], role, user);
    } finally {
      await context.close();
    }
  }
});

test('spoofed identity headers and assertions never reach Airflow, on every kind of route', async () => {
  const spoof = { 'x-auth-user': 'mallory', 'x-auth-roles': 'Admin', 'x-auth-email': 'm@evil', 'x-auth-groups': 'airflow-admins', 'x-airgate-assertion': 'forged.jwt.value' };
  for (const host of ['public.test', 'exec.test']) {
    const res = await request(`${gw.url}/_sim/echo`, { headers: { ...spoof, host, authorization: 'Bearer worker-token' } });
    const echo = (await res.body.json()) as Echo;
    for (const h of Object.keys(spoof)) assert.equal(echo.headers[h], undefined, `${host}: ${h} reached Airflow`);
  }
  const unauth = await request(`${gw.url}/_sim/echo`, { headers: { ...spoof, accept: 'application/json' } });
  assert.equal(unauth.statusCode, 401, 'an sso route without a session does not pass a spoofed identity either');
  await unauth.body.dump();
  // authenticated route with a real session: the session's identity wins
  const { context, page } = await browserLogin('carol');
  try {
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const res = await request(`${gw.url}/_sim/echo`, { headers: { ...spoof, cookie } });
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.headers['x-auth-user'], 'carol');
    assert.equal(echo.headers['x-auth-roles'], 'Viewer');
    assert.notEqual(echo.headers['x-airgate-assertion'], 'forged.jwt.value');
    void page;
  } finally {
    await context.close();
  }
  // passthrough keeps the worker's own bearer token for Airflow
  const exec = await request(`${gw.url}/_sim/echo`, { headers: { host: 'exec.test', authorization: 'Bearer worker-token' } });
  assert.equal(((await exec.body.json()) as Echo).headers.authorization, 'Bearer worker-token');
});

test('XHR and API calls get 401 JSON with WWW-Authenticate, never a redirect; a page gets the IdP', async () => {
  const xhr = await request(`${gw.url}/home`, { headers: { accept: 'application/json', 'x-requested-with': 'XMLHttpRequest' } });
  assert.equal(xhr.statusCode, 401);
  assert.match(String(xhr.headers['www-authenticate']), /^Bearer realm="airgate"/);
  assert.equal(((await xhr.body.json()) as { code: string }).code, 'AIRGATE_ERR_UNAUTHENTICATED');
  const api = await request(`${gw.url}/api/v1/dags`, { headers: { accept: 'text/html' } });
  assert.equal(api.statusCode, 401, 'an API path never redirects');
  await api.body.dump();
  const pageReq = await request(`${gw.url}/home`, { headers: { accept: 'text/html' } });
  assert.equal(pageReq.statusCode, 302);
  assert.ok(String(pageReq.headers.location).startsWith(`${idp.issuer}/`), 'to the IdP');
  const loc = new URL(String(pageReq.headers.location));
  assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(loc.searchParams.get('state') && loc.searchParams.get('nonce'));
  await pageReq.body.dump();
});

test('open-redirect attempts land on /', async () => {
  const { context, page } = await browserLogin('alice', '//evil.example/steal');
  try {
    const u = new URL(page.url());
    assert.equal(u.origin, gw.url);
  } finally {
    await context.close();
  }
});

test('back-channel logout ends the session; logout calls end_session with id_token_hint', async () => {
  const { context, page } = await browserLogin('bob');
  try {
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const ok = await request(`${gw.url}/_sim/echo`, { headers: { cookie } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    // The IdP's own session id for bob, from the sealed session: ask userinfo? Use the IdP's logout token for sub.
    const { importJWK } = await import('jose');
    const key = await importJWK(idpSigningKey, 'RS256');
    const logoutToken = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, jti: 'l-1' })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1', typ: 'logout+jwt' })
      .setIssuer(idp.issuer)
      .setAudience('airgate')
      .setSubject('bob')
      .setIssuedAt()
      .sign(key);
    const bc = await request(`${gw.url}/_airgate/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${logoutToken}` });
    assert.equal(bc.statusCode, 200);
    await bc.body.dump();
    const after = await request(`${gw.url}/_sim/echo`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(after.statusCode, 401, 'the session is over');
    await after.body.dump();
    const forged = await request(`${gw.url}/_airgate/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${logoutToken.slice(0, -4)}AAAA` });
    assert.equal(forged.statusCode, 400, 'a tampered logout token is refused');
    await forged.body.dump();
    // RP-initiated logout with a fresh login: the IdP's end_session with id_token_hint.
    const second = await browserLogin('bob');
    try {
      const cookie2 = (await second.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
      const out = await request(`${gw.url}/_airgate/logout`, { method: 'POST', headers: { cookie: cookie2 } });
      assert.equal(out.statusCode, 302);
      const end = new URL(String(out.headers.location));
      assert.equal(end.origin, idp.issuer, 'to the IdP');
      assert.ok(end.searchParams.get('id_token_hint'), 'with id_token_hint');
      assert.equal(end.searchParams.get('post_logout_redirect_uri'), `${gw.url}/`);
      assert.match(String(out.headers['set-cookie']), /^airgate_session=; Path=\/; Max-Age=0/);
      await out.body.dump();
      const reuse = await request(`${gw.url}/_sim/echo`, { headers: { cookie: cookie2, accept: 'application/json' } });
      assert.equal(reuse.statusCode, 401, 'the old cookie no longer opens a session');
      await reuse.body.dump();
    } finally {
      await second.context.close();
    }
    void page;
  } finally {
    await context.close();
  }
});

test('bearer tokens: the right issuer and audience pass; a wrong audience or issuer gets 401', async () => {
  const good = await machine.sign({ iss: 'https://ci.example/issuer', aud: 'airflow-api', sub: 'svc-ci', groups: ['airflow-admins'] });
  const ok = await request(`${gw.url}/_sim/echo`, { headers: { host: 'machine.test', authorization: `Bearer ${good}` } });
  assert.equal(ok.statusCode, 200);
  const echo = (await ok.body.json()) as Echo;
  assert.equal(echo.headers['x-auth-user'], 'svc-ci');
  assert.equal(echo.headers['x-auth-roles'], 'Admin');
  for (const [name, claims] of [
    ['wrong audience', { iss: 'https://ci.example/issuer', aud: 'someone-else', sub: 'svc' }],
    ['wrong issuer', { iss: 'https://evil.example', aud: 'airflow-api', sub: 'svc' }],
  ] as const) {
    const token = await machine.sign(claims);
    const res = await request(`${gw.url}/_sim/echo`, { headers: { host: 'machine.test', authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 401, name);
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="airgate"/);
    await res.body.dump();
  }
  const none = await request(`${gw.url}/_sim/echo`, { headers: { host: 'machine.test' } });
  assert.equal(none.statusCode, 401);
  await none.body.dump();
});

test('refresh tokens are used before expiry, one refresh at a time per session', async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const idp2 = await new DevIdp().start([{ clientId: 'airgate-r', clientSecret: 'airgate-r-secret', redirectUris: [`${origin}/_airgate/callback`], postLogoutRedirectUris: [`${origin}/`] }], { accessTokenTtl: 4 });
  let refreshes = 0;
  idp2.provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') refreshes++;
  });
  const gw2 = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:${port} }
auth:
  oidc:
    issuer: ${idp2.issuer}
    client_id: airgate-r
    client_secret: airgate-r-secret
    allow_insecure_issuer: true
    scopes: [openid, profile, email, offline_access]
    refresh_before: 3s      # the IdP's access tokens live 4 s: due one second after login
  session: { keys: ["${SESSION_KEY}"] }
backends:
  airflow:
    health: { enabled: false }
    servers: [{ name: web-1, url: ${sims[0]!.url} }]
routes:
  - { path: /, backend: airflow, auth: sso }
`);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/_sim/echo`);
    await fillIdpLogin(page, origin, 'alice');
    const loggedInAt = Date.now();
    const before = refreshes;
    assert.equal(before, 0, 'a fresh token is not refreshed');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    await waitFor(() => Date.now() - loggedInAt > 1200, 'the access token to come within refresh_before of its expiry');
    const answers = await Promise.all(Array.from({ length: 8 }, () => request(`${origin}/_sim/echo`, { headers: { cookie } }).then(async (r) => (await r.body.dump(), r.statusCode))));
    assert.deepEqual(answers, Array(8).fill(200));
    assert.equal(refreshes - before, 1, 'eight concurrent requests caused exactly one refresh');
  } finally {
    await context.close();
    await gw2.gateway.stop(0);
    await idp2.stop();
  }
});

/** The cookies of a browser context as one Cookie header. */
async function cookieHeader(context: import('playwright-core').BrowserContext): Promise<string> {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

test('hostile #3: a login cookie sent as a session cookie opens nothing and crashes nothing', async () => {
  const start = await request(`${gw.url}/home`, { headers: { accept: 'text/html' } });
  assert.equal(start.statusCode, 302);
  await start.body.dump();
  const login = /airgate_login=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
  for (const path of ['/_airgate/userinfo', '/_sim/echo', '/api/v1/dags']) {
    const r = await request(`${gw.url}${path}`, { headers: { cookie: `airgate_session=${login}`, accept: 'application/json' } });
    assert.equal(r.statusCode, 401, path);
    await r.body.dump();
  }
  const alive = await request(`${gw.url}/_airgate/health`);
  assert.equal(alive.statusCode, 200);
  await alive.body.dump();
});

test('hostile #13: logout only from this site; another site gets a confirmation page or 403 and the session lives on', async () => {
  const { context } = await browserLogin('carol');
  try {
    const cookie = await cookieHeader(context);
    const crossGet = await request(`${gw.url}/_airgate/logout`, { headers: { cookie, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } });
    assert.equal(crossGet.statusCode, 200);
    assert.match(await crossGet.body.text(), /<form method="post" action="\/_airgate\/logout">/);
    const crossPost = await request(`${gw.url}/_airgate/logout`, { method: 'POST', headers: { cookie, origin: 'https://evil.example' } });
    assert.equal(crossPost.statusCode, 403);
    await crossPost.body.dump();
    const still = await request(`${gw.url}/_airgate/userinfo`, { headers: { cookie } });
    assert.equal(still.statusCode, 200, 'the session survived both attempts');
    assert.equal(((await still.body.json()) as { user: string }).user, 'carol');
    // Airflow's own logout path is airgate's logout on an SSO route: both sessions end.
    const own = await request(`${gw.url}/logout/`, { method: 'POST', headers: { cookie, origin: gw.url } });
    assert.equal(own.statusCode, 302);
    const set = [own.headers['set-cookie']].flat().join('\n');
    assert.match(set, /^airgate_session=; Path=\/; Max-Age=0/m);
    assert.match(set, /^session=; Path=\/; Max-Age=0/m, "Airflow 2's session cookie is expired too");
    assert.match(set, /^_token=; Path=\/; Max-Age=0/m, "Airflow 3's token cookie is expired too");
    await own.body.dump();
    const after = await request(`${gw.url}/_airgate/userinfo`, { headers: { cookie } });
    assert.equal(after.statusCode, 401);
    await after.body.dump();
  } finally {
    await context.close();
  }
});

test('hostile #15: the back-channel logout endpoint reads at most 64 KB', async () => {
  const r = await request(`${gw.url}/_airgate/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.alloc(4 * 1024 * 1024, 0x61) }).catch((err: Error) => err);
  if (r instanceof Error) assert.match(r.message, /EPIPE|ECONNRESET|other side closed|SocketError/i, 'cut off while sending');
  else {
    assert.equal(r.statusCode, 413);
    assert.equal(r.headers['x-airgate-error'], 'AIRGATE_ERR_BODY_TOO_LARGE');
    await r.body.dump();
  }
});

test('hostile #13: with the memory store, a session (and so a logged-out cookie) does not outlive a restart of the gateway', async () => {
  const { context } = await browserLogin('bob');
  const cookie = await cookieHeader(context);
  await context.close();
  const before = await request(`${gw.url}/_airgate/userinfo`, { headers: { cookie } });
  assert.equal(before.statusCode, 200);
  await before.body.dump();
  await gw.gateway.stop(0);
  gw = await startGateway(gatewayYaml);
  const after = await request(`${gw.url}/_airgate/userinfo`, { headers: { cookie } });
  assert.equal(after.statusCode, 401);
  assert.match(((await after.body.json()) as { detail: string }).detail, /restarted/);
});
