import { createHmac, timingSafeEqual } from 'node:crypto';

const CACHE_LIMIT = 10_000;

/**
 * Signed persistence cookies: `name~expiry~mac`, where `name` is the server's config name (never
 * its address), `expiry` a unix time in seconds (base 36) and `mac` the first 128 bits of
 * HMAC-SHA256(key, "backend|name|expiry"). The first key signs, every key verifies, so keys
 * rotate without breaking sessions; instances that share the keys honour each other's cookies.
 * A tampered, foreign or expired cookie is ignored. Verified values are cached so the request
 * path pays one map lookup, not an HMAC.
 */
export class StickyCookies {
  readonly cookieName: string;
  private readonly backend: string;
  private readonly keys: readonly string[];
  private readonly ttlMs: number;
  private readonly verified = new Map<string, { server: string; expiresAt: number }>();
  private readonly prefix: string;

  constructor(backend: string, cookieName: string, keys: readonly string[], ttlMs: number) {
    this.backend = backend;
    this.cookieName = cookieName;
    this.keys = keys;
    this.ttlMs = ttlMs;
    this.prefix = `${cookieName}=`;
  }

  private mac(key: string, server: string, expiry: string): Buffer {
    return createHmac('sha256', key).update(`${this.backend}|${server}|${expiry}`).digest().subarray(0, 16);
  }

  /** The cookie value naming `server`, valid for the configured ttl from `nowMs` (wall clock). */
  sign(server: string, nowMs: number): string {
    const expiry = Math.floor((nowMs + this.ttlMs) / 1000).toString(36);
    return `${server}~${expiry}~${this.mac(this.keys[0]!, server, expiry).toString('base64url')}`;
  }

  /** The `Set-Cookie` header value for `server`. */
  setCookie(server: string, nowMs: number, secure: boolean): string {
    return `${this.cookieName}=${this.sign(server, nowMs)}; Path=/; Max-Age=${Math.floor(this.ttlMs / 1000)}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  /** The server named by a valid cookie in a Cookie header, with its expiry; undefined otherwise. */
  read(cookieHeader: string | undefined, nowMs: number): { server: string; expiresAt: number } | undefined {
    if (!cookieHeader) return undefined;
    const value = cookieValue(cookieHeader, this.prefix);
    if (!value) return undefined;
    let entry = this.verified.get(value);
    if (!entry) {
      entry = this.verify(value);
      if (!entry) return undefined;
      if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
      this.verified.set(value, entry);
    }
    return entry.expiresAt > nowMs ? entry : undefined;
  }

  private verify(value: string): { server: string; expiresAt: number } | undefined {
    const parts = value.split('~');
    if (parts.length !== 3) return undefined;
    const [server, expiry, mac] = parts as [string, string, string];
    const given = Buffer.from(mac, 'base64url');
    // Canonical encoding only: base64url decoding ignores padding, junk characters and the spare bits of the last one.
    if (given.length !== 16 || given.toString('base64url') !== mac) return undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(given, this.mac(key, server, expiry))) return { server, expiresAt: parseInt(expiry, 36) * 1000 };
    }
    return undefined;
  }

  /** Whether a cookie read at `nowMs` is past half its life and should be re-issued. */
  needsRefresh(expiresAt: number, nowMs: number): boolean {
    return expiresAt - nowMs < this.ttlMs / 2;
  }
}

/** The value of the cookie whose `name=` prefix is given, from a Cookie header. */
export function cookieValue(header: string, prefix: string): string | undefined {
  let i = header.indexOf(prefix);
  while (i >= 0) {
    if (i === 0 || header.charCodeAt(i - 1) === 32 || header.charCodeAt(i - 1) === 59) {
      const start = i + prefix.length;
      const end = header.indexOf(';', start);
      return header.slice(start, end < 0 ? header.length : end).trim();
    }
    i = header.indexOf(prefix, i + 1);
  }
  return undefined;
}
