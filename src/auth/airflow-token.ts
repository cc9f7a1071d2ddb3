import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AirgateConfig } from '../config/schema.js';
import type { AssertionSigner } from './assertion.js';
import type { Identity } from './identity.js';

type TokenConfig = NonNullable<AirgateConfig['auth']>['airflow3_token'];

/** What a preset fills in for the keys left out. */
const PRESETS = {
  /** airgate's own auth manager (airflow/airgate_airflow): AIRGATE_AUDIENCE / AIRGATE_ISSUER defaults. */
  'airgate-auth-manager': { audience: 'apache-airflow', issuer: 'airgate', role_case: 'as-configured', subject: 'user' },
  /** Airflow's SimpleAuthManager: `deserialize_user` reads `sub` and `role` (VIEWER|USER|OP|ADMIN). */
  'simple-auth-manager': { audience: 'apache-airflow', issuer: 'airgate', role_case: 'upper', subject: 'user' },
} as const;

/** The settled token settings: preset defaults, then the keys given. */
export interface Airflow3TokenSettings {
  readonly audience: string;
  readonly issuer: string;
  readonly roleCase: 'as-configured' | 'upper';
  readonly subject: 'user' | 'sub' | 'email';
  readonly ttlMs: number;
}

export function tokenSettings(cfg: TokenConfig): Airflow3TokenSettings {
  const p = PRESETS[cfg.preset];
  return Object.freeze({
    audience: cfg.audience ?? p.audience,
    issuer: cfg.issuer ?? p.issuer,
    roleCase: cfg.role_case ?? p.role_case,
    subject: cfg.subject ?? p.subject,
    ttlMs: cfg.ttl,
  });
}

/** Cached tokens at most (one per session); beyond it the cache starts over. */
const CACHE_LIMIT = 10_000;

/**
 * The bearer token airgate hands an Airflow 3 api-server for a verified user: ES256 with the
 * kid of airgate's current signing key (the one `/_airgate/jwks.json` publishes), and the claims
 * Airflow's `JWTValidator` requires (`exp`, `iat`, `nbf`; `aud` always, `iss` when configured)
 * plus what an auth manager's `deserialize_user` reads (`sub`, `role`; `name`, `email`,
 * `groups` for airgate's manager) and a unique `jti`. One token per session and audience,
 * reused until a fifth of its lifetime is left: a request costs a map lookup, not a signature.
 */
export class Airflow3Tokens {
  readonly settings: Airflow3TokenSettings;
  private readonly signer: AssertionSigner;
  /** Per session id (the audience is this instance's, fixed): the header value and when to mint a new one. */
  private readonly cache = new Map<string, { token: string; refreshAt: number }>();
  /** Tokens signed so far (the benchmark and tests read it to show reuse). */
  signed = 0;

  constructor(settings: Airflow3TokenSettings, signer: AssertionSigner) {
    this.settings = settings;
    this.signer = signer;
  }

  /** The `Authorization` header value for this identity at `nowMs`. */
  bearer(identity: Identity, nowMs: number): string | Promise<string> {
    const hit = this.cache.get(identity.sid);
    if (hit && hit.refreshAt > nowMs) return hit.token;
    return this.renew(identity, nowMs);
  }

  private async renew(identity: Identity, nowMs: number): Promise<string> {
    const token = `Bearer ${await this.mint(identity, nowMs)}`;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(identity.sid, { token, refreshAt: nowMs + this.settings.ttlMs * 0.8 });
    return token;
  }

  /** Sign a fresh token (no cache). */
  async mint(identity: Identity, nowMs: number): Promise<string> {
    const s = this.settings;
    const { kid, privateKey } = this.signer.signingKey(nowMs);
    const iat = Math.floor(nowMs / 1000);
    const claims: Record<string, unknown> = { name: identity.user, role: s.roleCase === 'upper' ? identity.role.toUpperCase() : identity.role, groups: identity.groups };
    if (identity.email !== undefined) claims.email = identity.email;
    this.signed++;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(s.issuer)
      .setAudience(s.audience)
      .setSubject(subjectOf(identity, s.subject))
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + Math.ceil(s.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(privateKey);
  }

  /** Drop a session's tokens (logout). */
  forget(sid: string): void {
    this.cache.delete(sid);
  }
}

function subjectOf(id: Identity, which: Airflow3TokenSettings['subject']): string {
  if (which === 'sub') return id.sub;
  if (which === 'email') return id.email ?? id.user;
  return id.user;
}
