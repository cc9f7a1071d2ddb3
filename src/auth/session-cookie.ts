import { createHash } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';
import { StaticKeyRing, type CookieKeyProvider, type CookieKeyRing } from './session-keys.js';

/**
 * Encrypted, authenticated cookies (JWE, dir + A256GCM) with a key ring: the first key
 * encrypts, every key decrypts (the `kid` says which), so keys rotate without logging anyone
 * out. A tampered, expired or foreign-key cookie does not open. The ring is a static list of
 * secrets or a provider of scheduled keys (session-keys.ts).
 */
export class SealedCookies {
  private readonly ring: CookieKeyRing;

  constructor(secrets: readonly string[] | CookieKeyProvider) {
    this.ring = 'ring' in secrets ? secrets.ring('session') : new StaticKeyRing(secrets.map((s) => ({ kid: createHash('sha256').update(`kid:${s}`).digest('base64url').slice(0, 12), key: createHash('sha256').update(`airgate-session:${s}`).digest() })));
  }

  seal(payload: JWTPayload, expiresAtSec: number): Promise<string> {
    const { kid, key } = this.ring.sealKey();
    return new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid }).setIssuedAt().setExpirationTime(expiresAtSec).encrypt(key);
  }

  async open<T extends JWTPayload>(token: string | undefined): Promise<T | undefined> {
    if (!token || token.length > 4096) return undefined;
    let kid: string | undefined;
    try {
      kid = (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string }).kid;
    } catch {
      return undefined;
    }
    const key = this.ring.openKey(kid);
    if (!key) return undefined;
    try {
      const { payload } = await jwtDecrypt(token, key, { clockTolerance: 5 });
      return payload as T;
    } catch {
      return undefined;
    }
  }
}
