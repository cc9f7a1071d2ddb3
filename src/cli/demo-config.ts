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
  /** Airflow 3 only: the api-servers' public key (a JWKS file), their `jwt_issuer`, and the gateway's own JWKS URL. */
  airflow3?: { jwksFile: string; issuer: string; jwksUrl: string } | undefined;
}

/** The routes of each Airflow version: which paths browsers, Airflow's own clients and workers use. */
function routes(airflow: 2 | 3): string {
  const root = `  - path: /
    backend: airflow
    auth: sso                 # browsers log in at the development IdP
`;
  if (airflow === 2) {
    return `${root}  - path: /api
    backend: airflow
    auth: passthrough         # Airflow's own API authentication, for curl
    timeouts: { response_headers: 180s }
  - { path: /health, backend: airflow, auth: none }
`;
  }
  // Airflow 3: /api/v2 and /ui answer the browser as its user (a token airgate mints); curl's token
  // from Airflow's own /auth/token is a bearer token airgate verifies (auth.bearer) and re-mints.
  return `${root}  - path: /api
    backend: airflow
    auth: sso                 # the browser's session, or a bearer token (Airflow's own from /auth/token)
    timeouts: { response_headers: 180s }
  - { path: /auth/token, backend: airflow, auth: passthrough }   # Airflow's own tokens (SimpleAuthManager)
  - { path: /execution, backend: airflow, auth: passthrough }    # workers' task tokens
  - { path: /api/v2/monitor/health, backend: airflow, auth: none }
`;
}

/**
 * Airflow 3's config-only identity path (docs/airflow.md): the api-servers trust airgate's JWKS,
 * which also serves their own public key; both sides' tokens carry the api-servers' `jwt_issuer`
 * (Airflow checks it on every token once set), and airgate takes Airflow's own tokens as bearer
 * tokens, their `role` claim giving the role.
 */
function airflow3Auth(a: NonNullable<DemoConfigInput['airflow3']>): string {
  return `  airflow3_token: { preset: simple-auth-manager, issuer: ${a.issuer} }
  bearer:
    - { issuer: ${a.issuer}, jwks_url: ${a.jwksUrl}, audiences: [apache-airflow] }
`;
}

/** The YAML the demo runs: the same loader and schema as `airgate serve`. */
export function demoConfigYaml(c: DemoConfigInput): string {
  const extraJwks = c.airflow3 ? `, extra_jwks: ["${c.airflow3.jwksFile}"]` : '';
  const tokenRoles = c.airflow3
    ? `    - { role: Admin, claim: { name: role, values: [ADMIN] } }   # Airflow's own tokens name their role
    - { role: Op, claim: { name: role, values: [OP] } }
    - { role: User, claim: { name: role, values: [USER] } }
`
    : '';
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
  assertion: { keys: ["${c.assertionKeyFile}"]${extraJwks} }
${c.airflow3 ? airflow3Auth(c.airflow3) : ''}  roles:
    - { role: Admin, groups: [airflow-admins] }
    - { role: Op, groups: [airflow-ops] }
${tokenRoles}  default_role: Viewer
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
