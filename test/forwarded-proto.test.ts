import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startGateway, startSims } from './helpers/gateway.js';
import { DevIdp } from '../src/sim/dev-idp.js';
import type { Gateway } from '../src/server/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';

// TLS terminated in front of airgate (issue 20 item 2): a trusted load balancer says
// `X-Forwarded-Proto: https`; airgate's cookies get Secure, HSTS applies and redirect URIs use https.

let idp: DevIdp;
let sims: SimulatedAirflow[];
const gws: { gateway: Gateway; url: string }[] = [];

function yaml(trusted: string): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:0
    forwarded_hsts: { max_age: 1d }
trusted_proxies: [${trusted}]
auth:
  oidc: { issuer: ${idp.issuer}, client_id: airgate, client_secret: airgate-secret, allow_insecure_issuer: true }
  session: { keys: ["forwarded-proto-test-session-key-0123456789"] }
backends:
  airflow:
    health: { enabled: false }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, auth: sso }
  - { host: open.test, path: /, backend: airflow, auth: none }
`;
}

before(async () => {
  sims = await startSims(1);
  idp = await new DevIdp().start([{ clientId: 'airgate', clientSecret: 'airgate-secret', redirectUris: ['https://airflow.example.com/_airgate/callback'], postLogoutRedirectUris: [] }]);
  gws.push(await startGateway(yaml('127.0.0.0/8')), await startGateway(yaml('10.0.0.0/8')));
});

after(async () => {
  for (const g of gws) await g.gateway.stop(0);
  await idp?.stop();
  await Promise.all(sims.map((s) => s.stop()));
});

const page = (url: string, proto?: string) => request(`${url}/home`, { headers: { host: 'airflow.example.com', accept: 'text/html', ...(proto ? { 'x-forwarded-proto': proto } : {}) } });

test('from a trusted proxy, X-Forwarded-Proto: https gives an https redirect URI, a Secure login cookie and HSTS', async () => {
  const [trusted] = gws;
  const r = await page(trusted!.url, 'https');
  assert.equal(r.statusCode, 302);
  assert.equal(new URL(String(r.headers.location)).searchParams.get('redirect_uri'), 'https://airflow.example.com/_airgate/callback');
  assert.match(String(r.headers['set-cookie']), /^airgate_login=.*; Secure$/);
  assert.equal(r.headers['strict-transport-security'], 'max-age=86400');
  await r.body.dump();
  const proxied = await request(`${trusted!.url}/_sim/echo`, { headers: { host: 'open.test', 'x-forwarded-proto': 'https' } });
  assert.equal(proxied.headers['strict-transport-security'], 'max-age=86400', 'on proxied answers too');
  assert.equal(((await proxied.body.json()) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'https', 'and Airflow is told https');
  const plain = await page(trusted!.url);
  assert.equal(new URL(String(plain.headers.location)).searchParams.get('redirect_uri'), 'http://airflow.example.com/_airgate/callback');
  assert.doesNotMatch(String(plain.headers['set-cookie']), /Secure/);
  assert.equal(plain.headers['strict-transport-security'], undefined);
  await plain.body.dump();
});

test('from a peer that is not a trusted proxy, X-Forwarded-Proto is ignored', async () => {
  const untrusted = gws[1]!;
  const r = await page(untrusted.url, 'https');
  assert.equal(new URL(String(r.headers.location)).searchParams.get('redirect_uri'), 'http://airflow.example.com/_airgate/callback');
  assert.doesNotMatch(String(r.headers['set-cookie']), /Secure/);
  assert.equal(r.headers['strict-transport-security'], undefined);
  await r.body.dump();
  const proxied = await request(`${untrusted.url}/_sim/echo`, { headers: { host: 'open.test', 'x-forwarded-proto': 'https' } });
  assert.equal(((await proxied.body.json()) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http', "the client's claim is replaced");
});
