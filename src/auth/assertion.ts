import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Identity } from './identity.js';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * The signed identity assertion Airflow can trust: an ES256 JWT (`iss`, `aud` = the route,
 * `sub`, `email`, `name`, `groups`, `roles`, short `exp`) whose public keys are served at
 * `/_airgate/jwks.json`. Signing costs tens of microseconds, so an assertion is reused per
 * identity session and route until it nears expiry.
 */
export class AssertionSigner {
  private keys: SigningKey[] = [];
  private readonly cache = new Map<string, { token: string; refreshAt: number }>();
  readonly ttlMs: number;
  readonly issuer: string;

  private constructor(ttlMs: number, issuer: string) {
    this.ttlMs = ttlMs;
    this.issuer = issuer;
  }

  static async create(keyFiles: readonly string[], ttlMs: number, issuer: string): Promise<AssertionSigner> {
    const signer = new AssertionSigner(ttlMs, issuer);
    if (keyFiles.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      signer.keys.push(await describe(privateKey, publicKey));
    } else {
      for (const file of keyFiles) {
        const privateKey = await importPKCS8(readFileSync(file, 'utf8'), 'ES256', { extractable: true });
        signer.keys.push(await describe(privateKey, privateKey));
      }
    }
    return signer;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  async assertion(identity: Identity, audience: string, nowMs: number): Promise<string> {
    const key = `${identity.sid}\u0000${audience}`;
    const hit = this.cache.get(key);
    if (hit && hit.refreshAt > nowMs) return hit.token;
    const { kid, privateKey } = this.keys[0]!;
    const iat = Math.floor(nowMs / 1000);
    const token = await new SignJWT({ email: identity.email, name: identity.user, groups: identity.groups, roles: [identity.role], auth: identity.method })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(identity.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.ceil(this.ttlMs / 1000))
      .sign(privateKey);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { token, refreshAt: nowMs + this.ttlMs * 0.75 });
    return token;
  }

  /** The key signing at `nowMs` (its public half is in jwks()): Airflow 3 tokens (airflow-token.ts) are signed with it too. */
  signingKey(_nowMs: number): { kid: string; privateKey: CryptoKey } {
    return this.keys[0]!;
  }

  /** Drop cached assertions of a session (logout). */
  forget(sid: string): void {
    for (const k of this.cache.keys()) if (k.startsWith(`${sid}\u0000`)) this.cache.delete(k);
  }
}

async function describe(privateKey: CryptoKey, source: CryptoKey): Promise<SigningKey> {
  const jwk = await exportJWK(source);
  const publicJwk: JWK = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, alg: 'ES256', use: 'sig' };
  publicJwk.kid = await calculateJwkThumbprint(publicJwk);
  return { kid: publicJwk.kid, privateKey, publicJwk };
}
