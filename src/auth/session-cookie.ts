import { createHash } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';
import { StaticKeyRing, type CookieKeyProvider, type CookieKeyRing } from './session-keys.js';

/** What a sealed cookie is for; each purpose has its own keys, so one cannot stand in for another. */
export type SealPurpose = 'session' | 'login';

/**
 * Encrypted, authenticated cookies (JWE, dir + A256GCM) with a key ring: the first key
 * encrypts, every key decrypts (the `kid` says which), so keys rotate without logging anyone
 * out. Keys are derived per purpose (`session`, `login`) and the purpose is in the protected
 * header, so a login cookie never opens as a session. A tampered, expired, foreign-key or
 * other-purpose cookie does not open. The ring is a static list of secrets or a provider of
 * scheduled keys (session-keys.ts), which derives per purpose too.
 */
export class SealedCookies {
  private readonly ring: CookieKeyRing;
  private readonly purpose: SealPurpose;

  constructor(secrets: readonly string[] | CookieKeyProvider, purpose: SealPurpose) {
    this.purpose = purpose;
    this.ring =
      'ring' in secrets
        ? secrets.ring(purpose)
        : new StaticKeyRing(
            secrets.map((s) => ({
              kid: createHash('sha256').update(`kid:${purpose}:${s}`).digest('base64url').slice(0, 12),
              key: createHash('sha256').update(`airgate-${purpose}:${s}`).digest(),
            })),
          );
  }

  seal(payload: JWTPayload, expiresAtSec: number): Promise<string> {
    const { kid, key } = this.ring.sealKey();
    return new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, pur: this.purpose }).setIssuedAt().setExpirationTime(expiresAtSec).encrypt(key);
  }

  async open<T extends JWTPayload>(token: string | undefined): Promise<T | undefined> {
    if (!token || token.length > 4096) return undefined;
    let header: { kid?: unknown; pur?: unknown };
    try {
      header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid?: unknown; pur?: unknown };
    } catch {
      return undefined;
    }
    if (!header || header.pur !== this.purpose) return undefined;
    const key = this.ring.openKey(typeof header.kid === 'string' ? header.kid : undefined);
    if (!key) return undefined;
    try {
      const { payload } = await jwtDecrypt(token, key, { clockTolerance: 5 });
      return payload as T;
    } catch {
      return undefined;
    }
  }
}
