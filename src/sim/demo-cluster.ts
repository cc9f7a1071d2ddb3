import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
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
  /** Airflow 3: the api-servers' `[api_auth] jwt_issuer`, shared with the tokens airgate mints (Airflow checks it on every token). */
  airflow3Issuer?: string;
}

/** Airflow 3: the kid the api-servers sign their own tokens with (`[api_auth] jwt_kid`). */
export const AIRFLOW3_KID = 'airflow-demo-1';

export interface DemoCluster {
  sims: readonly SimulatedAirflow[];
  /** The development IdP's issuer URL. */
  issuer: string;
  /** The users the development IdP knows (any password). */
  users: readonly string[];
  /** Airflow 3: the public half of the api-servers' own signing key (a JWK with its kid), for `auth.assertion.extra_jwks`. */
  airflow3Jwk: JsonWebKey | undefined;
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
  // Airflow 3 runs the config-only path (docs/airflow.md): SimpleAuthManager, `trusted_jwks_url` =
  // airgate's JWKS, and its own tokens (`/auth/token`, workers') signed with `jwt_private_key_path`
  // + `jwt_kid`, whose public half airgate publishes in that JWKS. The private key never leaves here.
  const own = o.airflow === 3 ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : undefined;
  const versioned = own ? { airflow3: { trustedJwksUrl: `${o.gatewayOrigins[0]}/_airgate/jwks.json`, privateKey: { key: own.privateKey, kid: AIRFLOW3_KID, alg: 'ES256' }, jwtIssuer: o.airflow3Issuer } } : { airflow2 };
  const sims = await Promise.all(o.simPorts.map((port, i) => new SimulatedAirflow({ name: `web-${i + 1}`, airflow: o.airflow, state, port, ...versioned }).start()));
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
    airflow3Jwk: own ? { ...own.publicKey.export({ format: 'jwk' }), kid: AIRFLOW3_KID, alg: 'ES256', use: 'sig' } : undefined,
    async stop() {
      await Promise.all(sims.map((s) => s.stop()));
      await idp.stop();
    },
  };
}
