/** What the demo's generated configuration needs to know. */
export interface DemoConfigInput {
  /** Gateway listen address (as given with --host) and port. */
  host: string;
  port: number;
  airflow: 2 | 3;
  servers: readonly { name: string; url: string }[];
  issuer: string;
  sessionKey: string;
  adminToken: string;
  /** PKCS#8 PEM file of the assertion signing key. */
  assertionKeyFile: string;
}

/** The routes of each Airflow version: which paths browsers, Airflow's own clients and workers use. */
function routes(airflow: 2 | 3): string {
  const common = `  - path: /
    backend: airflow
    auth: sso                 # browsers log in at the development IdP
  - path: /api
    backend: airflow
    auth: passthrough         # Airflow's own API authentication, for curl
    timeouts: { response_headers: 180s }
`;
  if (airflow === 2) return `${common}  - { path: /health, backend: airflow, auth: none }\n`;
  // Airflow 3: /auth/token issues Airflow's own API tokens (FAB auth manager); /execution is the workers'.
  return `${common}  - { path: /auth/token, backend: airflow, auth: passthrough }
  - { path: /execution, backend: airflow, auth: passthrough }
  - { path: /api/v2/monitor/health, backend: airflow, auth: none }
`;
}

/** The YAML the demo runs: the same loader and schema as `airgate serve`. */
export function demoConfigYaml(c: DemoConfigInput): string {
  return `listeners:
  - name: public
    address: ${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}
admin:
  address: 127.0.0.1:0
  token: ${c.adminToken}
auth:
  oidc:
    issuer: ${c.issuer}
    client_id: airgate-demo
    client_secret: airgate-demo-secret
    allow_insecure_issuer: true   # the development IdP speaks plain HTTP on loopback
    scopes: [openid, profile, email, groups]
  session: { keys: ["${c.sessionKey}"] }
  assertion: { keys: ["${c.assertionKeyFile}"] }
  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, groups: [airflow-ops] }
  default_role: Viewer
backends:
  airflow:
    airflow: ${c.airflow}                # the health check path and body Airflow ${c.airflow} serves
    servers:
${c.servers.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
${routes(c.airflow)}logging:
  level: info
shutdown:
  grace: 5s
`;
}
