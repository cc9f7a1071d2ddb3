import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Clock } from '../core/clock.js';
import { wallClock } from '../core/clock.js';
import type { Identity } from './identity.js';
import { RotatingSigningKeys, thumbprint, type SigningKey } from './signing-keys.js';

/** Where the signing keys come from: PEM files (the first signs), a rotation secret, or neither (one generated key). */
export interface AssertionKeys {
  files: readonly string[];
  rotation?: { secret: string; period: number; lead_time: number };
}

/** Seconds of clock skew a verifier allows (Airflow 3's `jwt_leeway` is 10 s): an old key stays published this much longer. */
const VERIFIER_LEEWAY_MS = 30_000;

/**
 * The signed identity assertion Airflow can trust: an ES256 JWT (`iss`, `aud` = the route,
 * `sub`, `email`, `name`, `groups`, `roles`, `iat`, `nbf`, short `exp`, a unique `jti`) whose
 * public keys are served at `/_airgate/jwks.json`. Signing costs tens of microseconds, so an
 * assertion is reused per identity session and route until it nears expiry. With a rotation
 * secret the signing key changes every period, published a lead time before it signs.
 */
export class AssertionSigner {
  private keys: SigningKey[] = [];
  private rotating: RotatingSigningKeys | undefined;
  /** session id → audience → a signed assertion and when to sign a new one. */
  private readonly cache = new Map<string, Map<string, { token: string; refreshAt: number }>>();
  readonly ttlMs: number;
  readonly issuer: string;
  private readonly clock: Clock;

  private constructor(ttlMs: number, issuer: string, clock: Clock) {
    this.ttlMs = ttlMs;
    this.issuer = issuer;
    this.clock = clock;
  }

  static async create(keys: readonly string[] | AssertionKeys, ttlMs: number, issuer: string, clock: Clock = wallClock): Promise<AssertionSigner> {
    const source: AssertionKeys = Array.isArray(keys) ? { files: keys as readonly string[] } : (keys as AssertionKeys);
    const signer = new AssertionSigner(ttlMs, issuer, clock);
    if (source.rotation) {
      const r = source.rotation;
      signer.rotating = new RotatingSigningKeys({ secret: r.secret, period: r.period, leadTime: r.lead_time, retain: ttlMs + VERIFIER_LEEWAY_MS }, clock);
    } else if (source.files.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      signer.keys.push(await describe(privateKey, publicKey));
    } else {
      for (const file of source.files) {
        const privateKey = await importPKCS8(readFileSync(file, 'utf8'), 'ES256', { extractable: true });
        signer.keys.push(await describe(privateKey, privateKey));
      }
    }
    return signer;
  }

  /** The published keys now: with rotation, the next key during its lead time and old keys until their tokens expired. */
  jwks(): { keys: JWK[] } {
    return this.rotating ? this.rotating.jwks(this.clock.now()) : { keys: this.keys.map((k) => k.publicJwk) };
  }

  /** The kid that signs at `nowMs`. */
  signingKid(nowMs: number): string {
    return this.signingKey(nowMs).kid;
  }

  /** The assertion for this session and audience: the cached one (synchronously) until it is due for renewal, else a fresh one. */
  assertion(identity: Identity, audience: string, nowMs: number): string | Promise<string> {
    const hit = this.cache.get(identity.sid)?.get(audience);
    if (hit && hit.refreshAt > nowMs) return hit.token;
    return this.sign(identity, audience, nowMs);
  }

  private async sign(identity: Identity, audience: string, nowMs: number): Promise<string> {
    const { kid, privateKey } = this.signingKey(nowMs);
    const iat = Math.floor(nowMs / 1000);
    // `sub` is the user name airgate hands Airflow (X-Auth-User), so Airflow can require them equal; the IdP's subject is `idp_sub`.
    const token = await new SignJWT({ email: identity.email, name: identity.user, groups: identity.groups, roles: [identity.role], auth: identity.method, idp_sub: identity.sub })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(identity.user)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + Math.ceil(this.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(privateKey);
    if (this.cache.size > 10_000) this.cache.clear();
    let bySession = this.cache.get(identity.sid);
    if (!bySession) this.cache.set(identity.sid, (bySession = new Map<string, { token: string; refreshAt: number }>()));
    // With rotation, a cached token never outlives its period by more than the token lifetime: the next key takes over soon after the boundary.
    bySession.set(audience, { token, refreshAt: nowMs + this.ttlMs * 0.75 });
    return token;
  }

  /** The key signing at `nowMs` (its public half is in jwks()): Airflow 3 tokens (airflow-token.ts) are signed with it too. */
  signingKey(nowMs: number): SigningKey {
    return this.rotating ? this.rotating.signingKey(nowMs) : this.keys[0]!;
  }

  /** Drop cached assertions of a session (logout). */
  forget(sid: string): void {
    this.cache.delete(sid);
  }
}

async function describe(privateKey: CryptoKey, source: CryptoKey): Promise<SigningKey> {
  const jwk = await exportJWK(source);
  const publicJwk: JWK = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, alg: 'ES256', use: 'sig' };
  publicJwk.kid = thumbprint(publicJwk);
  return { kid: publicJwk.kid, privateKey, publicJwk };
}
