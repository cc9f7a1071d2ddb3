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
  set(sid: string, tokens: SessionTokens, ttlMs: number): Promise<void>;
  /** Synchronous: checked on every request. */
  isRevoked(sid: string): boolean;
  revoke(match: { sid?: string | undefined; idpSid?: string | undefined; sub?: string | undefined }, maxAgeMs: number): Promise<number>;
  close(): void;
}

/**
 * Server-side session data (memory; Redis when several instances share sessions) and the
 * revocation list: a session ended by logout or back-channel logout is refused even while its
 * cookie is still valid.
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, SessionTokens>();
  private readonly revoked = new Map<string, number>();

  async get(sid: string): Promise<SessionTokens | undefined> {
    return this.sessions.get(sid);
  }

  async set(sid: string, tokens: SessionTokens): Promise<void> {
    this.sessions.set(sid, tokens);
  }

  close(): void {}

  isRevoked(sid: string): boolean {
    return this.revoked.has(sid);
  }

  /** End sessions by airgate session id, IdP session id or subject; returns how many. */
  async revoke(match: { sid?: string | undefined; idpSid?: string | undefined; sub?: string | undefined }, maxAgeMs: number): Promise<number> {
    const now = Date.now();
    for (const [k, until] of this.revoked) if (until < now) this.revoked.delete(k);
    let n = 0;
    for (const [sid, s] of this.sessions) {
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
