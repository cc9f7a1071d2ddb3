import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AirgateConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { rawHeader } from '../proxy/request-keys.js';
import { cookieValue } from '../upstream/sticky.js';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { Airflow3Tokens, tokenSettings } from './airflow-token.js';
import { AssertionSigner } from './assertion.js';
import { BearerVerifier } from './bearer.js';
import { mapRole, stringList, type Identity } from './identity.js';
import { OidcClient } from './oidc.js';
import { SealedCookies } from './session-cookie.js';
import { sessionKeys } from './session-keys.js';
import { MemorySessionStore, type SessionStore, type SessionTokens } from './session-store.js';
import { RedisSessionStore } from './redis-session-store.js';
import { isLoginState, isSession, type SessionClaims } from './session-claims.js';

type Auth = NonNullable<AirgateConfig['auth']>;
type SessionConfig = NonNullable<Auth['session']>;

/** Browser sign-in through the IdP: present when auth.oidc and auth.session both are (what `auth: sso` needs). */
interface SignIn {
  oidc: OidcClient;
  cfg: NonNullable<Auth['oidc']>;
  session: SessionConfig;
  sealed: SealedCookies;
  sealedLogin: SealedCookies;
}

export const LOGIN_COOKIE = 'airgate_login';
const LOGIN_TTL_S = 600;

/** A new id for every start of the gateway; the primary of `workers: N` gives its workers its own (AIRGATE_BOOT_ID). */
export function newBootId(): string {
  return process.env.AIRGATE_BOOT_ID ?? randomBytes(9).toString('base64url');
}

export type AuthOutcome = { identity: Identity; setCookie?: string } | { identity: undefined; reason: string };

/**
 * Everything about who a request is: the session cookie (sealed, with a key ring and idle and
 * absolute limits), bearer JWTs from trusted issuers, the OIDC login round trip, logout and
 * back-channel logout, roles, and the identity handed to Airflow (headers and a signed
 * assertion). Built once per configuration; holds no per-request state.
 */
export class Authenticator {
  readonly cfg: Auth;
  readonly signer: AssertionSigner;
  /** Bearer tokens for `airflow: 3` backends, signed with the signer's current key. */
  readonly airflow3: Airflow3Tokens;
  /** Public keys served at /_airgate/jwks.json beside airgate's own (auth.assertion.extra_jwks), read at load. */
  readonly extraJwks: readonly JWK[];
  readonly oidc: OidcClient | undefined;
  readonly bearer: BearerVerifier;
  readonly store: SessionStore;
  /** Session cookies, when auth.session is configured. */
  private readonly sessions: { cfg: SessionConfig; sealed: SealedCookies } | undefined;
  private readonly signIn: SignIn | undefined;
  /** Memory store without forget_on_restart: false — a session from an earlier start of the gateway is refused. */
  private readonly boot: string | undefined;
  private readonly logger: Logger;
  private readonly cookiePrefix: string;
  /** Opened session cookies, so a busy session costs a map lookup, not a decryption per request. */
  private readonly opened = new Map<string, SessionClaims>();

  private constructor(cfg: Auth, signer: AssertionSigner, logger: Logger, store: SessionStore, bootId: string) {
    this.cfg = cfg;
    this.signer = signer;
    this.airflow3 = new Airflow3Tokens(tokenSettings(cfg.airflow3_token), signer);
    this.extraJwks = cfg.assertion.extra_jwks.flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { keys: JWK[] }).keys);
    this.logger = logger;
    this.store = store;
    this.oidc = cfg.oidc ? new OidcClient(cfg.oidc) : undefined;
    this.bearer = new BearerVerifier(cfg);
    const keys = cfg.session ? sessionKeys(cfg.session) : undefined;
    this.sessions = cfg.session && keys ? { cfg: cfg.session, sealed: new SealedCookies(keys, 'session') } : undefined;
    this.signIn = this.oidc && cfg.oidc && this.sessions && keys ? { oidc: this.oidc, cfg: cfg.oidc, session: this.sessions.cfg, sealed: this.sessions.sealed, sealedLogin: new SealedCookies(keys, 'login') } : undefined;
    this.boot = store instanceof MemorySessionStore && cfg.session?.forget_on_restart !== false ? bootId : undefined;
    this.cookiePrefix = `${cfg.session?.cookie ?? 'airgate_session'}=`;
  }

  /** `bootId`: this start of the gateway (sessions of the memory store do not outlive it). */
  static async create(cfg: Auth, logger: Logger, bootId: string, previous?: Authenticator, redisUrl?: string): Promise<Authenticator> {
    const carried = previous?.carryOver(cfg);
    const signer = carried?.signer ?? (await AssertionSigner.create({ files: cfg.assertion.keys, rotation: cfg.assertion.rotation }, cfg.assertion.ttl, cfg.assertion.issuer));
    const store = carried?.store ?? (redisUrl ? new RedisSessionStore(redisUrl, logger) : new MemorySessionStore());
    const a = new Authenticator(cfg, signer, logger, store, bootId);
    if (a.oidc) await a.oidc.discover();
    if (cfg.assertion.keys.length === 0 && !cfg.assertion.rotation && !previous) logger.warn('no auth.assertion.keys configured: an assertion key was generated for this process only; configure keys when several instances serve the same Airflow');
    return a;
  }

  /**
   * A reload: the session store always survives (sessions, tokens, revocations), the assertion
   * signer while auth.assertion is unchanged (its keys keep signing). OIDC discovery, bearer
   * issuers' key sets and the opened-cookie cache start afresh.
   */
  private carryOver(next: Auth): { store: SessionStore; signer?: AssertionSigner } {
    return { store: this.store, ...(JSON.stringify(this.cfg.assertion) === JSON.stringify(next.assertion) ? { signer: this.signer } : {}) };
  }

  /** Sign-in needs the IdP and session cookies (the config check makes `auth: sso` routes have both). */
  private requireSignIn(): SignIn {
    if (!this.signIn) throw new Error('browser sign-in needs auth.oidc and auth.session');
    return this.signIn;
  }

  /** What /_airgate/jwks.json serves: airgate's signing keys, then the configured extra keys. */
  jwks(): { keys: JWK[] } {
    const own = this.signer.jwks();
    return this.extraJwks.length ? { keys: [...own.keys, ...this.extraJwks] } : own;
  }

  get sessionCookieName(): string {
    return this.cfg.session?.cookie ?? 'airgate_session';
  }

  /**
   * Bearer JWT first (machine access), then the session cookie (browsers). Synchronous when the
   * cookie was opened before and nothing needs a key, the IdP or Redis: the request path then
   * costs no promise.
   */
  authenticate(req: IncomingMessage, allowSession: boolean, secure: boolean): AuthOutcome | Promise<AuthOutcome> {
    const authz = rawHeader(req, 'authorization');
    if (authz?.startsWith('Bearer ')) return this.bearerOutcome(authz.slice(7).trim());
    const sessions = this.sessions;
    if (!allowSession || !sessions) return { identity: undefined, reason: 'a bearer token is required' };
    const cookies = rawHeader(req, 'cookie');
    const token = cookies ? cookieValue(cookies, this.cookiePrefix) : undefined;
    if (!token) return { identity: undefined, reason: 'no session' };
    const nowS = Math.floor(Date.now() / 1000);
    const s = this.opened.get(token);
    if (s && (s.exp ?? 0) > nowS) return this.sessionOutcome(s, nowS, sessions, secure);
    if (s) this.opened.delete(token);
    return this.openSession(token, sessions, secure);
  }

  private async bearerOutcome(token: string): Promise<AuthOutcome> {
    const r = await this.bearer.verify(token);
    return 'identity' in r ? { identity: r.identity } : { identity: undefined, reason: r.error };
  }

  /** A cookie not opened before (or whose cached claims expired): unseal it and remember the claims. */
  private async openSession(token: string, sessions: NonNullable<Authenticator['sessions']>, secure: boolean): Promise<AuthOutcome> {
    const opened = await sessions.sealed.open<Record<string, unknown>>(token);
    if (!opened || !isSession(opened)) return { identity: undefined, reason: 'the session cookie is invalid or expired' };
    if (this.boot !== undefined && opened.boot !== this.boot) return { identity: undefined, reason: 'the gateway restarted since this session began' };
    if (this.opened.size >= 10_000) this.opened.clear();
    this.opened.set(token, opened);
    return this.sessionOutcome(opened, Math.floor(Date.now() / 1000), sessions, secure);
  }

  private sessionOutcome(s: SessionClaims, nowS: number, sessions: NonNullable<Authenticator['sessions']>, secure: boolean): AuthOutcome | Promise<AuthOutcome> {
    if (this.store.isRevoked(s.sid, { idpSid: s.idp_sid, sub: s.sub, iat: (s as { iat?: number }).iat ?? 0 })) return { identity: undefined, reason: 'the session was logged out' };
    const idleS = Math.floor(sessions.cfg.idle_timeout / 1000);
    if (nowS - s.seen > idleS) return { identity: undefined, reason: 'the session was idle too long' };
    const refreshing = this.refreshIfDue(s.sid);
    if (refreshing) return refreshing.then(() => this.identityOutcome(s, nowS, idleS, sessions, secure));
    return this.identityOutcome(s, nowS, idleS, sessions, secure);
  }

  private identityOutcome(s: SessionClaims, nowS: number, idleS: number, sessions: NonNullable<Authenticator['sessions']>, secure: boolean): AuthOutcome | Promise<AuthOutcome> {
    const identity: Identity = { sub: s.sub, user: s.user, email: s.email, groups: s.groups, role: s.role, method: 'oidc', sid: s.sid, idpSid: s.idp_sid };
    // Keep the idle clock running: re-seal when a quarter of the idle time has passed.
    if (nowS - s.seen > idleS / 4) return this.sessionCookie(sessions.sealed, { ...s, seen: nowS }, s.exp ?? nowS, secure).then((setCookie) => ({ identity, setCookie }));
    return { identity };
  }

  /** One refresh at a time per session, shortly before the access token expires; undefined when none is due (known without waiting). */
  private refreshIfDue(sid: string): Promise<void> | undefined {
    const known = this.store.known(sid);
    if (known === null) return this.store.get(sid).then((t) => this.refreshTokens(sid, t));
    return this.refreshTokens(sid, known);
  }

  private refreshTokens(sid: string, t: SessionTokens | undefined): Promise<void> | undefined {
    if (!t?.refreshToken || !this.oidc || t.accessExpiresAt === undefined) return undefined;
    if (t.accessExpiresAt - Date.now() > this.oidc.cfg.refresh_before) return undefined;
    // Never more than one refresh per session every 10 s, even when tokens are short-lived.
    if (!t.refreshing && t.refreshedAt !== undefined && Date.now() - t.refreshedAt < 10_000) return undefined;
    const refreshToken = t.refreshToken;
    t.refreshing ??= this.oidc
      .refresh(refreshToken)
      .then((tokens) => {
        t.refreshToken = tokens.refresh_token ?? t.refreshToken;
        t.idToken = tokens.id_token ?? t.idToken;
        t.accessExpiresAt = tokens.expires_in ? Date.now() + tokens.expires_in * 1000 : undefined;
        t.refreshedAt = Date.now();
      })
      .catch((err: Error) => this.logger.warn({ sid, reason: err.message }, 'token refresh failed'))
      .finally(() => (t.refreshing = undefined));
    return t.refreshing;
  }

  private async sessionCookie(sealed: SealedCookies, claims: SessionClaims, expS: number, secure: boolean): Promise<string> {
    const { exp: _exp, iat: _iat, ...rest } = claims as SessionClaims & { iat?: number };
    const value = await sealed.seal(rest, expS);
    return `${this.sessionCookieName}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, expS - Math.floor(Date.now() / 1000))}${secure ? '; Secure' : ''}`;
  }

  /** The login redirect for a browser: the IdP URL, with the round-trip secrets sealed in a short cookie. */
  async loginRedirect(origin: string, returnTo: string, secure: boolean): Promise<{ location: string; setCookie: string }> {
    const signIn = this.requireSignIn();
    const started = await signIn.oidc.begin(`${origin}/_airgate/callback`);
    const sealedState = await signIn.sealedLogin.seal({ s: started.state, n: started.nonce, v: started.verifier, r: returnTo }, Math.floor(Date.now() / 1000) + LOGIN_TTL_S);
    return { location: started.url, setCookie: `${LOGIN_COOKIE}=${sealedState}; Path=/_airgate/callback; HttpOnly; SameSite=Lax; Max-Age=${LOGIN_TTL_S}${secure ? '; Secure' : ''}` };
  }

  /** The OIDC callback: exchange the code, build the session, go back where the user started (same origin only). */
  async callback(req: IncomingMessage, origin: string, target: string, secure: boolean): Promise<{ location: string; cookies: string[] } | { error: string }> {
    const signIn = this.requireSignIn();
    const cookies = rawHeader(req, 'cookie');
    const login = await signIn.sealedLogin.open<Record<string, unknown>>(cookies ? cookieValue(cookies, `${LOGIN_COOKIE}=`) : undefined);
    if (!login || !isLoginState(login)) return { error: 'the login took too long or its cookie is missing; please start again' };
    let tokens;
    try {
      tokens = await signIn.oidc.finish(new URL(target, origin), { state: login.s, nonce: login.n, verifier: login.v });
    } catch (err) {
      return { error: `the identity provider's answer was refused: ${(err as Error).message}` };
    }
    const claims = (tokens.claims() ?? {}) as Record<string, unknown>;
    const o = signIn.cfg;
    const user = String(claims[o.username_claim] ?? claims.sub);
    const email = typeof claims.email === 'string' ? claims.email : undefined;
    const groups = stringList(claims[o.groups_claim]);
    const bad = controlCharacterIn(user, email, groups);
    if (bad) return { error: `the identity provider sent a ${bad} with a control character (U+0000-U+001F, U+007F-U+009F), which Airflow cannot accept; ask your directory administrator to correct it` };
    const sid = randomBytes(16).toString('base64url');
    const idpSid = typeof claims.sid === 'string' ? claims.sid : undefined;
    await this.store.set(sid, { sub: String(claims.sub), idpSid, idToken: tokens.id_token, refreshToken: tokens.refresh_token, accessExpiresAt: tokens.expires_in ? Date.now() + tokens.expires_in * 1000 : undefined }, signIn.session.max_age);
    const nowS = Math.floor(Date.now() / 1000);
    const session: SessionClaims = { sid, sub: String(claims.sub), user, email, groups, role: mapRole(this.cfg.roles, this.cfg.default_role, { user, email, groups, claims }), idp_sid: idpSid, seen: nowS, ...(this.boot ? { boot: this.boot } : {}) };
    this.logger.info({ user, role: session.role, groups }, 'user logged in');
    return {
      location: sameOriginPath(login.r),
      cookies: [await this.sessionCookie(signIn.sealed, session, nowS + Math.floor(signIn.session.max_age / 1000), secure), `${LOGIN_COOKIE}=; Path=/_airgate/callback; Max-Age=0`],
    };
  }

  /** Logout: end the session here and at the IdP (end_session with id_token_hint). */
  async logout(identity: Identity | undefined, origin: string): Promise<{ location: string; cookie: string }> {
    let location = '/';
    if (identity) {
      const tokens = await this.store.get(identity.sid);
      await this.store.revoke({ sid: identity.sid }, this.cfg.session?.max_age ?? 0);
      this.signer.forget(identity.sid);
      this.airflow3.forget(identity.sid);
      location = this.oidc?.endSessionUrl(tokens?.idToken, `${origin}/`) ?? '/';
      this.logger.info({ user: identity.user }, 'user logged out');
    }
    return { location, cookie: `${this.sessionCookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax` };
  }

  /** Back-channel logout (OIDC): the IdP posts a signed logout token naming a sid and/or sub. */
  async backchannelLogout(logoutToken: string): Promise<number> {
    if (!this.oidc) throw new Error('back-channel logout needs auth.oidc');
    const { sid, sub } = await this.oidc.logoutToken(logoutToken);
    const n = await this.store.revoke({ idpSid: sid, sub }, this.cfg.session?.max_age ?? 0);
    this.logger.info({ idpSid: sid, sub, sessions: n }, 'back-channel logout');
    return n;
  }
}

/** C0 controls, DEL and C1 controls: never part of a name, e-mail address or group (airflow/airgate_airflow/headers.py refuses them too). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Which identity value holds a control character: "user name", "e-mail address", "group", or undefined. */
export function controlCharacterIn(user: string, email: string | undefined, groups: readonly string[]): string | undefined {
  if (CONTROL.test(user)) return 'user name';
  if (email !== undefined && CONTROL.test(email)) return 'e-mail address';
  return groups.some((g) => CONTROL.test(g)) ? 'group' : undefined;
}

/** Only a path on this origin: anything else (scheme, `//host`, backslashes) becomes `/`. */
export function sameOriginPath(target: string | undefined): string {
  if (!target || !target.startsWith('/') || target.startsWith('//') || target.includes('\\') || /[\r\n]/.test(target)) return '/';
  try {
    const u = new URL(target, 'http://origin.invalid');
    return u.origin === 'http://origin.invalid' ? `${u.pathname}${u.search}${u.hash}` : '/';
  } catch {
    return '/';
  }
}
