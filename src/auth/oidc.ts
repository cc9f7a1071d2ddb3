import * as client from 'openid-client';
import type { AirgateConfig } from '../config/schema.js';

type OidcConfig = NonNullable<NonNullable<AirgateConfig['auth']>['oidc']>;

/**
 * The OIDC relying party (openid-client): discovery, authorization code flow with PKCE S256,
 * state and nonce, token refresh and the IdP's end-session URL. Discovery happens once at start
 * (and again on reload); JWKS caching and key rollover are openid-client's.
 */
export class OidcClient {
  readonly cfg: OidcConfig;
  private config: client.Configuration | undefined;

  constructor(cfg: OidcConfig) {
    this.cfg = cfg;
  }

  async discover(): Promise<void> {
    const options = this.cfg.allow_insecure_issuer ? { execute: [client.allowInsecureRequests] } : undefined;
    this.config = await client.discovery(new URL(this.cfg.issuer), this.cfg.client_id, this.cfg.client_secret, undefined, options);
  }

  private get conf(): client.Configuration {
    if (!this.config) throw new Error('OIDC discovery has not completed');
    return this.config;
  }

  /** Start a login: the IdP URL to redirect to, and the secrets to keep until the callback. */
  async begin(redirectUri: string): Promise<{ url: string; state: string; nonce: string; verifier: string }> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(this.conf, {
      redirect_uri: redirectUri,
      scope: this.cfg.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state, nonce, verifier };
  }

  /** Finish a login from the callback URL. */
  async finish(callbackUrl: URL, expected: { state: string; nonce: string; verifier: string }): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
    return client.authorizationCodeGrant(this.conf, callbackUrl, { pkceCodeVerifier: expected.verifier, expectedState: expected.state, expectedNonce: expected.nonce, idTokenExpected: true });
  }

  refresh(refreshToken: string): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
    return client.refreshTokenGrant(this.conf, refreshToken);
  }

  /** The IdP's end-session URL with id_token_hint, or undefined when the IdP has none. */
  endSessionUrl(idToken: string | undefined, postLogoutRedirect: string): string | undefined {
    if (!this.conf.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirect };
    if (idToken) params.id_token_hint = idToken;
    return client.buildEndSessionUrl(this.conf, params).href;
  }

  /** Verify a back-channel logout token (signed by the IdP, with the logout event) and return its sid/sub. */
  async logoutToken(token: string): Promise<{ sid?: string; sub?: string }> {
    const { jwtVerify, createRemoteJWKSet } = await import('jose');
    const meta = this.conf.serverMetadata();
    if (!meta.jwks_uri) throw new Error('the IdP publishes no JWKS');
    const jwks = (this.jwks ??= createRemoteJWKSet(new URL(meta.jwks_uri)));
    const { payload } = await jwtVerify(token, jwks, { issuer: meta.issuer, audience: this.cfg.client_id, clockTolerance: 60 });
    const events = payload.events as Record<string, unknown> | undefined;
    if (!events || !('http://schemas.openid.net/event/backchannel-logout' in events)) throw new Error('not a logout token');
    if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
    return { sid: typeof payload.sid === 'string' ? payload.sid : undefined, sub: payload.sub };
  }

  private jwks: ReturnType<typeof import('jose').createRemoteJWKSet> | undefined;
}
