import { createHash } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

/**
 * Encrypted, authenticated cookies (JWE, dir + A256GCM) with a key ring: the first key
 * encrypts, every key decrypts (the `kid` says which), so keys rotate without logging anyone
 * out. A tampered, expired or foreign-key cookie does not open.
 */
export class SealedCookies {
  private readonly keys: { kid: string; key: Uint8Array }[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((s) => ({ kid: createHash('sha256').update(`kid:${s}`).digest('base64url').slice(0, 12), key: createHash('sha256').update(`airgate-session:${s}`).digest() }));
  }

  seal(payload: JWTPayload, expiresAtSec: number): Promise<string> {
    const { kid, key } = this.keys[0]!;
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
    const entry = this.keys.find((k) => k.kid === kid);
    if (!entry) return undefined;
    try {
      const { payload } = await jwtDecrypt(token, entry.key, { clockTolerance: 5 });
      return payload as T;
    } catch {
      return undefined;
    }
  }
}
