import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

export interface DevUser {
  email: string;
  name: string;
  groups: string[];
}

/** The demo users: any password is accepted by the development login form. */
export const DEMO_USERS: Record<string, DevUser> = {
  alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['airflow-admins', 'team-a'] },
  bob: { email: 'bob@example.com', name: 'Bob Operator', groups: ['airflow-ops', 'team-b'] },
  carol: { email: 'carol@partner.example', name: 'Carol Viewer', groups: ['analysts'] },
};

export interface DevIdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri?: string;
}

/**
 * A development OpenID Provider (the `oidc-provider` package) for `airgate demo` and the tests:
 * authorization code flow with PKCE, refresh tokens, RP-initiated and back-channel logout, and a
 * plain login form (any password) for the demo users. Never for production.
 */
export class DevIdp {
  readonly server: Server;
  provider!: Provider;
  private readonly users: Record<string, DevUser>;

  constructor(users: Record<string, DevUser> = DEMO_USERS) {
    this.users = users;
    this.server = createServer();
  }

  get issuer(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(clients: DevIdpClient[], opts: { port?: number; jwks?: Configuration['jwks']; accessTokenTtl?: number } = {}): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
    const users = this.users;
    this.provider = new Provider(this.issuer, {
      clients: clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: c.redirectUris,
        post_logout_redirect_uris: c.postLogoutRedirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
      })),
      ...(opts.jwks ? { jwks: opts.jwks } : {}),
      async findAccount(_ctx, id) {
        const u = users[id] ?? { email: `${id}@example.com`, name: id, groups: [] };
        return { accountId: id, claims: () => ({ sub: id, preferred_username: id, name: u.name, email: u.email, email_verified: true, groups: u.groups }) };
      },
      claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: true }, rpInitiatedLogout: { enabled: true } },
      pkce: { required: () => true },
      // Put the requested claims (email, groups) in the ID token too, as Keycloak, Okta and Entra do with mappers.
      conformIdTokenClaims: false,
      cookies: { keys: ['airgate-dev-idp-cookie-key'] },
      ttl: { AccessToken: opts.accessTokenTtl ?? 600, IdToken: 600, Session: 3600, Grant: 3600, Interaction: 600 },
      issueRefreshToken: async () => true,
    });
    this.provider.on('server_error', () => undefined);
    const handle = this.provider.callback();
    this.server.on('request', (req, res) => void handle(req, res));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
