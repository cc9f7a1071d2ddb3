import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { request } from 'undici';
import { startGateway, startSims } from './helpers/gateway.js';
import { runPython } from './helpers/python.js';
import type { Gateway } from '../src/server/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';

// A running airgate mints the assertion (for a service account's bearer token, the shortest way to
// an authenticated request), the simulated Airflow echoes what arrived, and Debian's python3 verifies
// it with the Airflow-side code against the gateway's live /_airgate/jwks.json.

let sims: SimulatedAirflow[];
let gw: { gateway: Gateway; url: string };
let jwksServer: Server;
let sign: (sub: string) => Promise<string>;
let jwksUrlOf: () => string;

before(async () => {
  sims = await startSims(1);
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: 'ci-1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [pub] })));
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
  jwksUrlOf = () => jwksUrl;
  sign = (sub) => new SignJWT({ groups: ['airflow-ops'] }).setProtectedHeader({ alg: 'ES256', kid: 'ci-1' }).setIssuer('https://ci.example').setAudience('airflow-api').setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  gw = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
auth:
  bearer:
    - { issuer: "https://ci.example", jwks_url: "${jwksUrl}", audiences: [airflow-api] }
  roles:
    - { role: Op, groups: [airflow-ops] }
backends:
  airflow:
    health: { enabled: false }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, auth: bearer }
`);
});

after(async () => {
  await gw?.gateway.stop(0);
  await Promise.all((sims ?? []).map((s) => s.stop()));
  jwksServer?.close();
});

test('Debian python3 verifies an assertion minted by a running airgate against its live JWKS', async () => {
  const res = await request(`${gw.url}/_sim/echo`, { headers: { authorization: `Bearer ${await sign('svc-etl')}` } });
  assert.equal(res.statusCode, 200);
  const { headers } = (await res.body.json()) as { headers: Record<string, string> };
  const assertion = headers['x-airgate-assertion'];
  assert.ok(assertion, 'the gateway sent an assertion');
  const identity = Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('x-auth-') || k === 'x-airgate-assertion'));
  const { code, output } = await runPython(['-m', 'unittest', '-v', 'live_gateway_check'], {
    AIRGATE_LIVE_JWKS_URL: `${gw.url}/_airgate/jwks.json`,
    AIRGATE_LIVE_ASSERTION: assertion,
    AIRGATE_LIVE_HEADERS: JSON.stringify(identity),
    AIRGATE_LIVE_USER: 'svc-etl',
    AIRGATE_LIVE_ROLE: 'Op',
    AIRGATE_LIVE_AUDIENCE: '*/',
  });
  assert.equal(code, 0, `python3 live_gateway_check failed:\n${output}`);
  assert.match(output, /Ran 5 tests/);
});

test('Debian python3 verifies an Airflow 3 token minted by a running airgate with the AirgateAuthManager core', async () => {
  const v3 = await startSims(1, { airflow: 3 });
  const g3 = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
auth:
  bearer:
    - { issuer: "https://ci.example", jwks_url: "${jwksUrlOf()}", audiences: [airflow-api] }
  roles:
    - { role: Op, groups: [airflow-ops] }
backends:
  airflow:
    airflow: 3
    health: { enabled: false }
    servers: [{ name: web-1, url: "${v3[0]!.url}" }]
routes:
  - { path: /, backend: airflow, auth: bearer }
`);
  try {
    const res = await request(`${g3.url}/_sim/echo`, { headers: { authorization: `Bearer ${await sign('svc-etl')}` } });
    assert.equal(res.statusCode, 200);
    const { headers } = (await res.body.json()) as { headers: Record<string, string> };
    assert.match(headers.authorization ?? '', /^Bearer ey/, 'airgate’s token replaced the client’s');
    const { code, output } = await runPython(['-m', 'unittest', '-v', 'live_airflow3_check'], {
      AIRGATE_JWKS_URL: `${g3.url}/_airgate/jwks.json`,
      AIRGATE_LIVE_BEARER: headers.authorization!,
      AIRGATE_LIVE_USER: 'svc-etl',
      AIRGATE_LIVE_ROLE: 'Op',
    });
    assert.equal(code, 0, `python3 live_airflow3_check failed:\n${output}`);
    assert.match(output, /Ran 4 tests/);
  } finally {
    await g3.gateway.stop(0);
    await v3[0]!.stop();
  }
});
