import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { spawnGateway } from './helpers/spawn.js';
import { freePort } from './helpers/port.js';
import { startSims } from './helpers/gateway.js';
import { launchChromium, loginThroughIdp } from './helpers/browser-login.js';
import { DevIdp } from '../src/sim/dev-idp.js';

/** `/_airgate/userinfo` on a new connection each time, so the kernel spreads them over the workers. */
async function userinfoStatuses(origin: string, cookie: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const agent = new Agent();
    const r = await request(`${origin}/_airgate/userinfo`, { headers: { cookie }, dispatcher: agent });
    await r.body.dump();
    await agent.close();
    out.push(r.statusCode);
  }
  return out;
}

test('hostile #13: with workers: 2 and no Redis, a logout at one worker ends the session at every worker', async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const idp = await new DevIdp().start([{ clientId: 'airgate', clientSecret: 'airgate-secret', redirectUris: [`${origin}/_airgate/callback`], postLogoutRedirectUris: [`${origin}/`] }]);
  const sims = await startSims(1);
  const gw = await spawnGateway(`listeners:
  - { name: public, address: 127.0.0.1:${port} }
workers: 2
access_log: { enabled: false }
auth:
  oidc: { issuer: ${idp.issuer}, client_id: airgate, client_secret: airgate-secret, allow_insecure_issuer: true }
  session: { keys: ["workers-logout-session-key-0123456789abcdef"] }
backends:
  airflow:
    servers: [{ name: web-1, url: ${sims[0]!.url} }]
    health: { enabled: false }
routes:
  - { path: /, backend: airflow, auth: sso }
`);
  const browser = await launchChromium();
  try {
    const { context, cookie } = await loginThroughIdp(browser, origin, 'alice', '/_sim/echo');
    const c = await cookie();
    await context.close();
    assert.deepEqual(await userinfoStatuses(origin, c, 12), Array(12).fill(200), 'every worker knows the session');
    const out = await request(`${origin}/_airgate/logout`, { method: 'POST', headers: { cookie: c }, dispatcher: new Agent() });
    assert.equal(out.statusCode, 302);
    await out.body.dump();
    assert.deepEqual(await userinfoStatuses(origin, c, 12), Array(12).fill(401), 'no worker serves the logged-out session');
  } finally {
    await browser.close();
    gw.child.kill('SIGTERM');
    await gw.exited;
    gw.cleanup();
    await idp.stop();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
