import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { freePort } from './helpers/port.js';
import { startRedis } from './helpers/redis.js';
import { DevIdp } from '../src/sim/dev-idp.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';

test('two instances and a real redis-server: a login through A is served by B, a logout at B ends the session at A, a rate limit is one total', async () => {
  const redis = await startRedis();
  const sim = await new SimulatedAirflow({ name: 'web-1', remoteUserHeader: 'X-Auth-User' }).start();
  const [portA, portB] = [await freePort(), await freePort()];
  const origins = [portA, portB].map((p) => `http://127.0.0.1:${p}`);
  const idp = await new DevIdp().start([{ clientId: 'airgate', clientSecret: 's3cret', redirectUris: origins.map((o) => `${o}/_airgate/callback`), postLogoutRedirectUris: origins.map((o) => `${o}/`) }]);
  const yaml = (port: number) => `listeners: [{ name: public, address: "127.0.0.1:${port}" }]
store: { type: redis, url: "${redis.url}" }
auth:
  oidc: { issuer: "${idp.issuer}", client_id: airgate, client_secret: s3cret, allow_insecure_issuer: true, scopes: [openid, profile, email, groups] }
  session: { keys: ["shared-session-key-0123456789abcdefghij"] }
  assertion: { keys: [] }
rate_limits:
  - { name: api, match: { paths: [/api/] }, key: [user], rate: 1/h, burst: 6 }
backends: { airflow: { health: { enabled: false }, servers: [{ name: web-1, url: "${sim.url}" }] } }
routes: [{ path: /, backend: airflow, auth: sso }]
`;
  const a = await startGateway(yaml(portA));
  const b = await startGateway(yaml(portB));
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origins[0]}/_sim/echo`);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'x');
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href.startsWith(origins[0]!) || u.pathname.includes('/interaction/'));
    if (!page.url().startsWith(origins[0]!)) {
      await page.click('button[type="submit"]');
      await page.waitForURL((u) => u.href.startsWith(origins[0]!));
    }
    const cookie = (await context.cookies(origins[0])).map((c) => `${c.name}=${c.value}`).join('; ');
    await context.close();

    // Served by B with the session made at A.
    const atB = await request(`${origins[1]}/_sim/echo`, { headers: { cookie } });
    assert.equal(atB.statusCode, 200);
    assert.equal(((await atB.body.json()) as { headers: Record<string, string> }).headers['x-auth-user'], 'alice');

    // One total across both instances for the user.
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      for (const o of origins) {
        const r = await request(`${o}/api/v1/dags`, { headers: { cookie, accept: 'application/json' } });
        statuses.push(r.statusCode);
        await r.body.dump();
      }
    assert.equal(statuses.filter((s) => s === 429).length, 4, `6 allowed in total, then 429: ${statuses.join(',')}`);

    // Logout at B ends the session at A.
    const out = await request(`${origins[1]}/_airgate/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(out.statusCode, 302);
    await out.body.dump();
    // The revocation travels through Redis pub/sub; ask A until it has heard (bounded).
    let atA = 0;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const r = await request(`${origins[0]}/_sim/echo`, { headers: { cookie, accept: 'application/json' } });
      atA = r.statusCode;
      await r.body.dump();
      if (atA === 401) break;
    }
    assert.equal(atA, 401);
  } finally {
    await browser.close();
    await a.gateway.stop(0);
    await b.gateway.stop(0);
    await idp.stop();
    await sim.stop();
    await redis.stop();
  }
});
