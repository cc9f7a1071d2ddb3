import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { request } from 'undici';
import { startGateway, startSims } from './helpers/gateway.js';
import { derivedSigningKey } from '../src/auth/signing-keys.js';
import { AssertionSigner } from '../src/auth/assertion.js';
import { SealedCookies } from '../src/auth/session-cookie.js';
import { PeriodKeyProvider } from '../src/auth/session-keys.js';
import { ManualClock } from '../src/core/clock.js';
import { loadConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/config/config-error.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const SECRET = 'a-master-secret-of-at-least-32-characters';
const identity = { sub: 'alice', user: 'alice', email: 'alice@example.com', groups: ['ops'], role: 'Op', method: 'oidc' as const, sid: 's1' };

test('session keys: a cookie sealed before a period change still opens after it; one older than the ring is refused; instances agree', async () => {
  const period = 6 * HOUR;
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 5, 59)); // one minute before a 6-hour boundary
  const a = new SealedCookies(new PeriodKeyProvider({ secret: SECRET, period, previous: 1 }, clock), 'session');
  const b = new SealedCookies(new PeriodKeyProvider({ secret: SECRET, period, previous: 1 }, clock), 'session'); // another worker or instance
  const other = new SealedCookies(new PeriodKeyProvider({ secret: 'another-master-secret-of-32-characters!!', period, previous: 1 }, clock), 'session');
  const exp = Math.floor(Date.now() / 1000) + 3600; // jose checks exp against the real clock
  const before = await a.seal({ sid: 'x' }, exp);
  assert.deepEqual(await b.open(before).then((p) => p?.sid), 'x', 'another process derives the same key');
  assert.equal(await other.open(before), undefined, 'another master secret does not open it');
  const login = new SealedCookies(new PeriodKeyProvider({ secret: SECRET, period, previous: 1 }, clock), 'login');
  assert.equal(await login.open(before), undefined, 'a session cookie does not open as a login cookie (keys per purpose)');
  assert.equal(await a.open(await login.seal({ sid: 'x' }, exp)), undefined, 'nor the other way round');

  // Walk across the boundary a minute at a time, re-sealing as a live session does: no request is refused.
  let live = before;
  for (let i = 0; i < 10; i++) {
    clock.advance(MIN);
    const opened = await b.open<{ sid: string }>(live);
    assert.equal(opened?.sid, 'x', `the live session opens at minute ${i + 1}`);
    live = await a.seal({ sid: 'x' }, exp);
  }
  const kidBefore = decodeProtectedHeader(before).kid;
  const kidAfter = decodeProtectedHeader(live).kid;
  assert.notEqual(kidAfter, kidBefore, 'the key changed at the boundary');
  assert.equal((await a.open<{ sid: string }>(before))?.sid, 'x', 'the previous period’s cookie still opens');

  clock.advance(period); // now two periods after `before` was sealed
  assert.equal(await a.open(before), undefined, 'a cookie older than the ring is refused');
  assert.equal((await a.open<{ sid: string }>(live))?.sid, 'x', 'the cookie sealed after the change still opens');

  const wider = new SealedCookies(new PeriodKeyProvider({ secret: SECRET, period, previous: 2 }, clock), 'session');
  assert.equal((await wider.open<{ sid: string }>(before))?.sid, 'x', 'previous: 2 keeps two earlier periods');
});

test('signing keys: the next key is published for the whole lead time before it signs, and the old one until its tokens expired', async () => {
  const period = 3 * HOUR;
  const lead = 70 * MIN;
  const ttl = 5 * MIN;
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 0, 0));
  const rotation = { secret: SECRET, period, lead_time: lead };
  const signer = await AssertionSigner.create({ files: [], rotation }, ttl, 'airgate', clock);
  const twin = await AssertionSigner.create({ files: [], rotation }, ttl, 'airgate', clock);
  const start = clock.now();
  const firstPublished = new Map<string, number>();
  const firstSigned = new Map<string, number>();
  const issued: { token: string; at: number; kid: string }[] = [];
  for (let t = start; t <= start + 3 * period; t += MIN) {
    clock.advance(t - clock.now());
    const jwks = signer.jwks();
    assert.deepEqual(twin.jwks(), jwks, 'instances sharing the secret publish the same keys');
    for (const k of jwks.keys) if (!firstPublished.has(k.kid!)) firstPublished.set(k.kid!, t);
    const token = await signer.assertion({ ...identity, sid: `s-${t}` }, 'airflow', t);
    const kid = decodeProtectedHeader(token).kid!;
    assert.ok(
      jwks.keys.some((k) => k.kid === kid),
      'the signing key is published',
    );
    if (!firstSigned.has(kid)) firstSigned.set(kid, t);
    issued.push({ token, at: t, kid });
    // Tokens signed earlier still verify against the JWKS as it is now, until they expire.
    const set = createLocalJWKSet(jwks);
    for (const old of issued.filter((x) => t - x.at < ttl)) {
      const { payload } = await jwtVerify(old.token, set, { issuer: 'airgate', audience: 'airflow', currentDate: new Date(t) });
      assert.equal(payload.sub, 'alice');
    }
  }
  assert.equal(firstSigned.size, 4, 'four keys signed over three periods (start, three boundaries)');
  for (const [kid, signedAt] of firstSigned) {
    if (signedAt === start) continue;
    assert.ok(signedAt - firstPublished.get(kid)! >= lead, `key ${kid} was published ${(signedAt - firstPublished.get(kid)!) / MIN} min before it signed`);
  }
  // An old key leaves the JWKS once every token it signed has expired.
  const lastKid = issued.at(-1)!.kid;
  const retired = [...firstSigned.keys()][0]!;
  assert.ok(!signer.jwks().keys.some((k) => k.kid === retired), 'the first key is gone after its tokens expired');
  assert.ok(signer.jwks().keys.some((k) => k.kid === lastKid));

  const { payload } = await jwtVerify(issued.at(-1)!.token, createLocalJWKSet(signer.jwks()), { currentDate: new Date(clock.now()) });
  assert.equal(payload.nbf, payload.iat, 'nbf is set (Airflow 3 requires it)');
  assert.match(String(payload.jti), /^[0-9a-f-]{36}$/, 'every assertion has a unique jti');
  assert.notEqual(payload.jti, (await jwtVerify(issued.at(-2)!.token, createLocalJWKSet(signer.jwks()), { currentDate: new Date(clock.now()) })).payload.jti);
});

test('rotation config: keys and rotation are exclusive; the session ring must cover idle_timeout', () => {
  const base = (auth: string) => `listeners: [{ name: p, address: "127.0.0.1:0" }]\nbackends: { a: { servers: [{ name: s, url: "http://127.0.0.1:1" }] } }\nroutes: [{ path: /, backend: a }]\nauth:\n${auth}`;
  const errorOf = (yaml: string) => {
    try {
      loadConfigText(yaml, 'rot.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return '';
  };
  const ok = loadConfigText(base(`  session: { rotation: { secret: "${SECRET}", period: 1h }, idle_timeout: 1h }\n  assertion: { rotation: { secret: "${SECRET}" } }`), 'rot.yaml');
  assert.equal(ok.auth!.session!.rotation!.previous, 1);
  assert.equal(ok.auth!.assertion.rotation!.lead_time, 70 * MIN, 'the default lead time is above Airflow 3’s one-hour JWKS cache');
  assert.equal(ok.auth!.assertion.rotation!.period, 24 * HOUR);
  assert.match(errorOf(base(`  session: { rotation: { secret: "${SECRET}", period: 10m } }`)), /rot\.yaml:\d+.*auth\.session\.rotation\.period.*at least idle_timeout/s);
  assert.match(errorOf(base(`  session: { keys: ["${SECRET}"], rotation: { secret: "${SECRET}" } }`)), /auth\.session\.rotation.*either keys or rotation/s);
  assert.match(errorOf(base(`  session: { cookie: s }`)), /auth\.session\.keys.*keys \(a static key ring\) or rotation/s);
  assert.match(errorOf(base(`  assertion: { rotation: { secret: short } }`)), /auth\.assertion\.rotation\.secret.*at least 32 characters/s);
});

test('a gateway with assertion.rotation signs with the current period’s derived key and two instances publish the same JWKS', async () => {
  const mk = await generateKeyPair('ES256', { extractable: true });
  const mPub = { ...(await exportJWK(mk.publicKey)), kid: 'm1', alg: 'ES256', use: 'sig' };
  const jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [mPub] })));
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  const sims = await startSims(1);
  const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
auth:
  bearer:
    - { issuer: "https://ci.example/issuer", jwks_url: "http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks", audiences: [airflow-api] }
  assertion: { rotation: { secret: "${SECRET}", period: 1h, lead_time: 10m }, ttl: 2m }
backends:
  airflow:
    health: { enabled: false }
    servers: [{ name: web-1, url: ${sims[0]!.url} }]
routes:
  - { path: /, backend: airflow, auth: bearer }
`;
  const [a, b] = await Promise.all([startGateway(yaml), startGateway(yaml)]);
  try {
    const token = await new SignJWT({ sub: 'svc-ci' }).setProtectedHeader({ alg: 'ES256', kid: 'm1' }).setIssuer('https://ci.example/issuer').setAudience('airflow-api').setIssuedAt().setExpirationTime('5m').sign(mk.privateKey);
    const res = await request(`${a.url}/_sim/echo`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    const assertion = ((await res.body.json()) as { headers: Record<string, string> }).headers['x-airgate-assertion']!;
    const jwksA = (await (await request(`${a.url}/_airgate/jwks.json`)).body.json()) as { keys: JWK[] };
    const jwksB = (await (await request(`${b.url}/_airgate/jwks.json`)).body.json()) as { keys: JWK[] };
    assert.deepEqual(jwksA, jwksB, 'instances derive and publish the same keys');
    // Instance B's JWKS verifies what instance A signed.
    const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet(jwksB), { issuer: 'airgate', audience: '*/' });
    assert.equal(payload.sub, 'svc-ci');
    assert.equal(protectedHeader.kid, derivedSigningKey(SECRET, Math.floor((payload.iat! * 1000) / HOUR)).kid, 'the key of the period it was signed in');
    assert.ok(typeof payload.nbf === 'number' && typeof payload.jti === 'string');
  } finally {
    await a.gateway.stop(0);
    await b.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    jwksServer.close();
  }
});
