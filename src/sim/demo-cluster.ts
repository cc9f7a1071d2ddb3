import { SimulatedAirflow } from './airflow-sim.js';
import { AirflowState } from './state.js';
import { DEMO_USERS, DevIdp } from './dev-idp.js';

export interface DemoClusterOptions {
  airflow: 2 | 3;
  /** One port per simulated node (0: a free one). */
  simPorts: readonly number[];
  /** Every origin the gateway may be reached at (its login callback and logout return to them). */
  gatewayOrigins: readonly string[];
  /** Where the IdP sends back-channel logout tokens. */
  backchannelLogoutUri: string;
  clientId: string;
  clientSecret: string;
}

export interface DemoCluster {
  sims: readonly SimulatedAirflow[];
  /** The development IdP's issuer URL. */
  issuer: string;
  /** The users the development IdP knows (any password). */
  users: readonly string[];
  stop(): Promise<void>;
}

/**
 * What `airgate demo` runs behind the gateway: simulated Airflow nodes sharing one state and one
 * `secret_key`, and the development IdP. Lives beside the simulator and, like it, is not part of
 * the published package; the demo command imports it on demand.
 */
export async function startDemoCluster(o: DemoClusterOptions): Promise<DemoCluster> {
  const state = new AirflowState();
  // Airflow 2 runs with airflow/webserver_config.py installed: its session follows the gateway's signed assertion.
  const airflow2 = { webserverConfig: true, airgate: { jwksUrl: `${o.gatewayOrigins[0]}/_airgate/jwks.json` } };
  const sims = await Promise.all(o.simPorts.map((port, i) => new SimulatedAirflow({ name: `web-${i + 1}`, airflow: o.airflow, state, port, ...(o.airflow === 2 ? { airflow2 } : {}) }).start()));
  let idp: DevIdp;
  try {
    idp = await new DevIdp().start([
      {
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        redirectUris: o.gatewayOrigins.map((origin) => `${origin}/_airgate/callback`),
        postLogoutRedirectUris: o.gatewayOrigins.map((origin) => `${origin}/`),
        backchannelLogoutUri: o.backchannelLogoutUri,
      },
    ]);
  } catch (err) {
    await Promise.all(sims.map((s) => s.stop()));
    throw err;
  }
  return {
    sims,
    issuer: idp.issuer,
    users: Object.keys(DEMO_USERS),
    async stop() {
      await Promise.all(sims.map((s) => s.stop()));
      await idp.stop();
    },
  };
}
