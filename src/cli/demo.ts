import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { loadConfigText } from '../config/load.js';
import { Gateway } from '../server/gateway.js';
import { SimulatedAirflow } from '../sim/airflow-sim.js';
import { AirflowState } from '../sim/state.js';
import { DEMO_USERS, DevIdp } from '../sim/dev-idp.js';
import { stopOnSignals } from './serve.js';

export interface DemoOptions {
  port: string;
  host: string;
  airflow: string;
  simPorts?: string;
}

/** The YAML the demo runs: the same loader and schema as `airgate serve`. */
export function demoConfigYaml(host: string, port: number, sims: readonly SimulatedAirflow[], issuer: string, sessionKey: string): string {
  return `listeners:
  - name: public
    address: ${host.includes(':') ? `[${host}]` : host}:${port}
auth:
  oidc:
    issuer: ${issuer}
    client_id: airgate-demo
    client_secret: airgate-demo-secret
    allow_insecure_issuer: true   # the development IdP speaks plain HTTP on loopback
    scopes: [openid, profile, email, groups]
  session: { keys: ["${sessionKey}"] }
  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, groups: [airflow-ops] }
  default_role: Viewer
backends:
  airflow:
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - path: /
    backend: airflow
    auth: sso                 # browsers log in at the development IdP
  - path: /api
    backend: airflow
    auth: passthrough         # Airflow's own basic auth, for curl
    timeouts: { response_headers: 180s }
  - { path: /health, backend: airflow, auth: none }
  - { path: /api/v2/monitor/health, backend: airflow, auth: none }
logging:
  level: info
shutdown:
  grace: 5s
`;
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function pickPort(host: string, wanted: number): Promise<number> {
  if (wanted > 0 && (await portFree(host, wanted))) return wanted;
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, host, () => resolve()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** `airgate demo`: three simulated Airflow nodes, a development IdP, and the gateway in front. */
export async function demoCommand(opts: DemoOptions): Promise<void> {
  const airflow = opts.airflow === '3' ? 3 : 2;
  const simPorts = opts.simPorts ? opts.simPorts.split(',').map(Number) : [0, 0, 0];
  const state = new AirflowState();
  const sims = await Promise.all(simPorts.map((port, i) => new SimulatedAirflow({ name: `web-${i + 1}`, airflow, state, port, remoteUserHeader: 'X-Auth-User' }).start()));
  const port = await pickPort(opts.host, Number(opts.port));
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  // Register the gateway both as the printed address and as localhost, whichever the browser uses.
  const origins = [...new Set([url, `http://localhost:${port}`, `http://127.0.0.1:${port}`])];
  const idp = await new DevIdp().start([{ clientId: 'airgate-demo', clientSecret: 'airgate-demo-secret', redirectUris: origins.map((o) => `${o}/_airgate/callback`), postLogoutRedirectUris: origins.map((o) => `${o}/`), backchannelLogoutUri: `${url}/_airgate/backchannel-logout` }]);
  const gateway = new Gateway(loadConfigText(demoConfigYaml(opts.host, port, sims, idp.issuer, randomBytes(32).toString('base64url')), '<demo>'));
  await gateway.start();
  process.stdout.write(
    `\nairgate demo is running: ${url}/\n` +
      `  Airflow ${airflow} simulated on ${sims.map((s) => `${s.name} ${s.url}`).join(', ')}\n` +
      `  Log in with the development IdP (${idp.issuer}) as ${Object.keys(DEMO_USERS).join(', ')} (any password);\n` +
      `    alice is Admin, bob is Op, carol is Viewer. Your identity: ${url}/_airgate/userinfo   Log out: ${url}/_airgate/logout\n` +
      (airflow === 2
        ? `  API (Airflow's basic auth): curl -u admin:admin ${url}/api/v1/dags\n`
        : `  API token: curl -X POST -H 'content-type: application/json' -d '{"username":"admin","password":"admin"}' ${url}/auth/token\n`) +
      `  Health: ${url}${airflow === 2 ? '/health' : '/api/v2/monitor/health'}     Faults: curl -X POST -d '{"hang":true}' ${sims[0]!.url}/_sim/faults\n` +
      `  Stop with Ctrl-C.\n\n`,
  );
  stopOnSignals(async () => {
    await gateway.stop();
    await Promise.all(sims.map((s) => s.stop()));
    await idp.stop();
  });
}
