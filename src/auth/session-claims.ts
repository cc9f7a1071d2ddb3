/** What a sealed session cookie holds, and the login round trip's sealed state; each with its type check. */

export interface SessionClaims extends Record<string, unknown> {
  sid: string;
  sub: string;
  user: string;
  email?: string;
  groups: string[];
  role: string;
  idp_sid?: string;
  /** Last activity, seconds; the idle timeout counts from here. */
  seen: number;
  /** The gateway start that issued it (memory store: sessions end with the process that knows them). */
  boot?: string;
  exp?: number;
}

/** A session has every field a session has, with its type; anything else sealed with a session key is refused. */
export function isSession(c: Record<string, unknown>): c is SessionClaims {
  return (
    typeof c.sid === 'string' &&
    typeof c.sub === 'string' &&
    typeof c.user === 'string' &&
    typeof c.role === 'string' &&
    typeof c.seen === 'number' &&
    typeof c.exp === 'number' &&
    Array.isArray(c.groups) &&
    c.groups.every((g) => typeof g === 'string') &&
    (c.email === undefined || typeof c.email === 'string') &&
    (c.idp_sid === undefined || typeof c.idp_sid === 'string') &&
    (c.boot === undefined || typeof c.boot === 'string')
  );
}

export interface LoginState extends Record<string, unknown> {
  s: string;
  n: string;
  v: string;
  r: string;
}

export function isLoginState(c: Record<string, unknown>): c is LoginState {
  return typeof c.s === 'string' && typeof c.n === 'string' && typeof c.v === 'string' && typeof c.r === 'string';
}
