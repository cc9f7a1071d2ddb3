import { createECDH, createHash, createPrivateKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { CryptoKey, JWK } from 'jose';
import type { Clock } from '../core/clock.js';

/** One ES256 key: its kid (the RFC 7638 thumbprint), the private key and the public JWK. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

/** P-256's group order n: a derived scalar must lie in [1, n-1]. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/**
 * The ES256 key of period `n`, derived from the shared secret with HKDF-SHA256 (info names the
 * period), so every worker and instance computes the same key without talking to each other.
 * 48 bytes of output reduced mod n-1, plus one, give a uniform scalar (FIPS 186-4 B.4.1).
 */
export function derivedSigningKey(secret: string, period: number): SigningKey {
  const okm = Buffer.from(hkdfSync('sha256', secret, 'airgate-assertion-keys', `es256:period:${period}`, 48));
  const scalar = (BigInt(`0x${okm.toString('hex')}`) % (P256_N - 1n)) + 1n;
  const d = Buffer.from(scalar.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey(); // 0x04 || x || y
  const jwk: JWK = { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') };
  const privateKey = createPrivateKey({ key: { ...jwk, d: d.toString('base64url') } as import('node:crypto').JsonWebKey, format: 'jwk' });
  const kid = thumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, alg: 'ES256', use: 'sig', kid } };
}

/** RFC 7638 JWK thumbprint of an EC public key (the same kid jose's calculateJwkThumbprint gives). */
export function thumbprint(jwk: JWK): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
    .digest('base64url');
}

export interface RotationSettings {
  secret: string;
  /** How long one key signs. */
  period: number;
  /** How long before it first signs a key is published. */
  leadTime: number;
  /** How long after it last signed a key stays published (the longest token lifetime it signs, plus leeway). */
  retain: number;
}

/**
 * Scheduled signing keys with publish-before-use. Key `n` signs during [n·period, (n+1)·period)
 * of wall-clock time (Unix epoch, so instances agree), is published from `leadTime` before that
 * and stays published `retain` after, until every token it signed has expired. Keys are derived
 * once and memoised; the JWKS is rebuilt only when the set of published keys changes.
 */
export class RotatingSigningKeys {
  private readonly cache = new Map<number, SigningKey>();
  private published: { from: number; until: number; jwks: { keys: JWK[] } } | undefined;

  constructor(
    private readonly s: RotationSettings,
    private readonly clock: Clock,
  ) {}

  periodAt(t: number): number {
    return Math.floor(t / this.s.period);
  }

  /** The key that signs at `t`. */
  signingKey(t: number): SigningKey {
    return this.key(this.periodAt(t));
  }

  /** Periods whose key is published at `t`: n with n·P − lead ≤ t < (n+1)·P + retain. */
  publishedPeriods(t: number): number[] {
    const { period: p, leadTime, retain } = this.s;
    const out: number[] = [];
    for (let n = Math.floor((t - retain) / p) - 1; n <= Math.floor((t + leadTime) / p) + 1; n++) if (n * p - leadTime <= t && t < (n + 1) * p + retain) out.push(n);
    return out;
  }

  /** The public keys at `t` (default: the clock's now), newest first; rebuilt only at a boundary. */
  jwks(t = this.clock.now()): { keys: JWK[] } {
    const cached = this.published;
    if (cached && t >= cached.from && t < cached.until) return cached.jwks;
    const periods = this.publishedPeriods(t).reverse();
    const keys = periods.map((n) => this.key(n));
    const { from, until } = this.window(t);
    this.published = { from, until, jwks: { keys: keys.map((k) => k.publicJwk) } };
    for (const n of this.cache.keys()) if (!periods.includes(n) && n < this.periodAt(t)) this.cache.delete(n);
    return this.published.jwks;
  }

  /** The interval around `t` during which the published set does not change. */
  private window(t: number): { from: number; until: number } {
    const { period: p, leadTime, retain } = this.s;
    const edges: number[] = [];
    const base = this.periodAt(t);
    for (let n = base - Math.ceil(retain / p) - 2; n <= base + Math.ceil(leadTime / p) + 2; n++) edges.push(n * p - leadTime, (n + 1) * p + retain);
    const from = Math.max(...edges.filter((e) => e <= t));
    const until = Math.min(...edges.filter((e) => e > t));
    return { from, until };
  }

  private key(n: number): SigningKey {
    let k = this.cache.get(n);
    if (!k) {
      k = derivedSigningKey(this.s.secret, n);
      this.cache.set(n, k);
    }
    return k;
  }
}
