/** What a session keeps on the server side: tokens never travel in the cookie. */
export interface SessionTokens {
  sub: string;
  idpSid: string | undefined;
  idToken: string | undefined;
  refreshToken: string | undefined;
  /** Access token expiry (ms since epoch), when the IdP said. */
  accessExpiresAt: number | undefined;
  /** When the last refresh succeeded (ms). */
  refreshedAt?: number | undefined;
  /** One refresh at a time per session. */
  refreshing?: Promise<void> | undefined;
}

/** Where server-side session data and revocations live. */
export interface SessionStore {
  get(sid: string): Promise<SessionTokens | undefined>;
  /** What `get` would answer, when this instance knows it without a round trip; null: only `get` can tell. */
  known(sid: string): SessionTokens | undefined | null;
  set(sid: string, tokens: SessionTokens, ttlMs: number): Promise<void>;
  /** Synchronous: checked on every request. `session`: the cookie's IdP session id, subject and issue time (seconds), for revocations by IdP session or subject. */
  isRevoked(sid: string, session?: { idpSid?: string | undefined; sub: string; iat: number }): boolean;
  revoke(match: { sid?: string | undefined; idpSid?: string | undefined; sub?: string | undefined }, maxAgeMs: number): Promise<number>;
  close(): void;
}

/**
 * Server-side session data (memory; Redis when several instances share sessions) and the
 * revocation list: a session ended by logout or back-channel logout is refused even while its
 * cookie is still valid.
 */
/** A logout to apply: by airgate session id, IdP session id or subject. */
export type Revocation = { sid?: string | undefined; idpSid?: string | undefined; sub?: string | undefined };

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, { tokens: SessionTokens; until: number }>();
  private readonly revoked = new Map<string, number>();
  /** Revoked IdP sessions and subjects (`idp:…`, `sub:…` → [when revoked (s), until (ms)]): sessions issued before are refused, wherever they were made. */
  private readonly revokedOwners = new Map<string, [number, number]>();
  /** Told of every logout made here (workers of `workers: N` tell their siblings through the primary). */
  relay: ((match: Revocation, maxAgeMs: number) => Promise<void>) | undefined;
  private readonly maxEntries: number;

  /** `maxEntries`: sessions and revocations kept at most each; the oldest go first (a login flood cannot grow memory without limit). */
  constructor(maxEntries = 100_000) {
    this.maxEntries = maxEntries;
  }

  async get(sid: string): Promise<SessionTokens | undefined> {
    return this.known(sid);
  }

  known(sid: string): SessionTokens | undefined {
    const e = this.sessions.get(sid);
    if (e && e.until < Date.now()) {
      this.sessions.delete(sid);
      return undefined;
    }
    return e?.tokens;
  }

  async set(sid: string, tokens: SessionTokens, ttlMs: number): Promise<void> {
    if (this.sessions.size >= this.maxEntries) this.evict(this.sessions);
    this.sessions.set(sid, { tokens, until: Date.now() + ttlMs });
  }

  /** Drop expired entries, then the oldest tenth if still full (Maps iterate in insertion order). */
  private evict(map: Map<string, unknown>): void {
    const now = Date.now();
    for (const [k, v] of map) if ((typeof v === 'number' ? v : (v as { until: number }).until) < now) map.delete(k);
    if (map.size < this.maxEntries) return;
    let drop = Math.ceil(this.maxEntries / 10);
    for (const k of map.keys()) {
      if (drop-- <= 0) break;
      map.delete(k);
    }
  }

  get size(): { sessions: number; revoked: number } {
    return { sessions: this.sessions.size, revoked: this.revoked.size };
  }

  close(): void {}

  isRevoked(sid: string, session?: { idpSid?: string | undefined; sub: string; iat: number }): boolean {
    if (this.revoked.has(sid)) return true;
    if (!session || this.revokedOwners.size === 0) return false;
    const bySub = this.revokedOwners.get(`sub:${session.sub}`);
    if (bySub && session.iat <= bySub[0]) return true;
    const byIdp = session.idpSid === undefined ? undefined : this.revokedOwners.get(`idp:${session.idpSid}`);
    return byIdp !== undefined && session.iat <= byIdp[0];
  }

  /** Apply a logout made elsewhere (another worker), without relaying it again. */
  applyRevocation(match: Revocation, maxAgeMs: number): void {
    void this.revokeHere(match, maxAgeMs);
  }

  /** End sessions by airgate session id, IdP session id or subject; returns how many of this process's. */
  async revoke(match: Revocation, maxAgeMs: number): Promise<number> {
    const n = await this.revokeHere(match, maxAgeMs);
    await this.relay?.(match, maxAgeMs);
    return n;
  }

  private async revokeHere(match: Revocation, maxAgeMs: number): Promise<number> {
    const now = Date.now();
    if (this.revoked.size >= this.maxEntries) this.evict(this.revoked);
    if (this.revokedOwners.size >= this.maxEntries) this.revokedOwners.clear();
    // By IdP session or subject: every session issued until now, also those made by another process.
    if (match.idpSid !== undefined) this.revokedOwners.set(`idp:${match.idpSid}`, [Math.floor(now / 1000), now + maxAgeMs]);
    else if (match.sub !== undefined) this.revokedOwners.set(`sub:${match.sub}`, [Math.floor(now / 1000), now + maxAgeMs]);
    let n = 0;
    for (const [sid, { tokens: s }] of this.sessions) {
      if (sid === match.sid || (match.idpSid !== undefined && s.idpSid === match.idpSid) || (match.sub !== undefined && match.idpSid === undefined && s.sub === match.sub)) {
        this.sessions.delete(sid);
        this.revoked.set(sid, now + maxAgeMs);
        n++;
      }
    }
    if (match.sid && !this.revoked.has(match.sid)) this.revoked.set(match.sid, now + maxAgeMs);
    return n;
  }
}
