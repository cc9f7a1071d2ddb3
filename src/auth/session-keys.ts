import { createHash, hkdfSync } from 'node:crypto';
import { wallClock, type Clock } from '../core/clock.js';

/** One cookie key: `kid` travels in the JWE header so `open` finds the key without trying each. */
export interface CookieKey {
  kid: string;
  key: Uint8Array;
}

/** The keys sealed cookies use: `sealKey()` encrypts now, `openKey(kid)` any key still accepted. */
export interface CookieKeyRing {
  sealKey(): CookieKey;
  openKey(kid: string | undefined): Uint8Array | undefined;
}

/** Where a SealedCookies gets its ring for a purpose ('session', 'login'): each purpose has its own keys. */
export interface CookieKeyProvider {
  ring(purpose: string): CookieKeyRing;
}

export interface PeriodKeySettings {
  /** The master secret every worker and instance shares. */
  secret: string;
  /** How long one key seals. */
  period: number;
  /** How many earlier periods' keys still open cookies. */
  previous: number;
}

/**
 * Session keys that rotate on a schedule without coordination: the key of period
 * n = ⌊wall-clock time / period⌋ is HKDF-SHA256(master secret, info = purpose and n), so every
 * process that shares the master secret agrees. The current period's key seals; it and the
 * `previous` keys before it open; anything older is refused. Keys are derived once per period.
 */
export class PeriodKeyProvider implements CookieKeyProvider {
  private readonly rings = new Map<string, PeriodKeyRing>();
  private readonly fingerprint: string;

  constructor(
    private readonly s: PeriodKeySettings,
    private readonly clock: Clock,
  ) {
    this.fingerprint = createHash('sha256').update(`kid:${s.secret}`).digest('base64url').slice(0, 8);
  }

  ring(purpose: string): CookieKeyRing {
    let r = this.rings.get(purpose);
    if (!r) {
      r = new PeriodKeyRing(this.s, this.clock, purpose, this.fingerprint);
      this.rings.set(purpose, r);
    }
    return r;
  }
}

class PeriodKeyRing implements CookieKeyRing {
  private readonly keys = new Map<number, CookieKey>();
  private current = Number.NaN;

  constructor(
    private readonly s: PeriodKeySettings,
    private readonly clock: Clock,
    private readonly purpose: string,
    private readonly fingerprint: string,
  ) {}

  sealKey(): CookieKey {
    const n = this.advance();
    return this.keys.get(n)!;
  }

  openKey(kid: string | undefined): Uint8Array | undefined {
    const n = this.advance();
    const m = kid && kid.startsWith(`${this.fingerprint}.`) ? Number(kid.slice(this.fingerprint.length + 1)) : Number.NaN;
    return Number.isInteger(m) && m <= n && m >= n - this.s.previous ? this.keys.get(m)?.key : undefined;
  }

  /** The current period; at a boundary, derive its key and drop keys that left the ring. */
  private advance(): number {
    const n = Math.floor(this.clock.now() / this.s.period);
    if (n === this.current) return n;
    for (let m = n - this.s.previous; m <= n; m++) if (!this.keys.has(m)) this.keys.set(m, this.derive(m));
    for (const m of this.keys.keys()) if (m < n - this.s.previous || m > n) this.keys.delete(m);
    this.current = n;
    return n;
  }

  private derive(n: number): CookieKey {
    const key = new Uint8Array(hkdfSync('sha256', this.s.secret, 'airgate-session-keys', `airgate-${this.purpose}:period:${n}`, 32));
    return { kid: `${this.fingerprint}.${n}`, key };
  }
}

/** The static key ring: the first secret seals, every secret opens (rotation by editing the list). */
export class StaticKeyRing implements CookieKeyRing {
  private readonly keys: CookieKey[];

  constructor(keys: CookieKey[]) {
    this.keys = keys;
  }

  sealKey(): CookieKey {
    return this.keys[0]!;
  }

  openKey(kid: string | undefined): Uint8Array | undefined {
    return this.keys.find((k) => k.kid === kid)?.key;
  }
}

/** The session config's keys: the static ring, or scheduled keys from the master secret. */
export function sessionKeys(session: { keys: readonly string[]; rotation?: undefined } | { keys?: undefined; rotation: { secret: string; period: number; previous: number } }, clock: Clock = wallClock): readonly string[] | CookieKeyProvider {
  return session.rotation ? new PeriodKeyProvider(session.rotation, clock) : session.keys;
}
