import type { Authenticated } from '../pipeline/context.js';
import type { Observer } from '../observability/observer.js';
import type { UpstreamServer } from '../upstream/server.js';
import type { Backend } from '../upstream/backend.js';

/** A header's value from a flat `[name, value, …]` list (any case). */
export function headerValue(headers: readonly string[], lname: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.length === lname.length && headers[i]!.toLowerCase() === lname) return headers[i + 1];
  return undefined;
}

/** What a request's answer is decorated with, decided before dispatch. */
export interface Decorations {
  /** Server named by a valid sticky cookie, and whether that cookie is due for renewal. */
  readonly stickyName: string | undefined;
  readonly stickyRefresh: boolean;
}

/**
 * Response decorators: the headers the gateway adds to Airflow's answer — a (renewed) sticky
 * cookie naming the server that answered, Strict-Transport-Security, a renewed session cookie.
 */
export function decorate(headers: string[], ctx: Authenticated, backend: Backend, server: UpstreamServer, d: Decorations, observer: Observer): void {
  const sticky = backend.sticky;
  if (sticky && (d.stickyName !== server.name || d.stickyRefresh)) {
    headers.push('set-cookie', sticky.setCookie(server.name, Date.now(), ctx.proto === 'https'));
    if (d.stickyName !== undefined && d.stickyName !== server.name) observer.metrics.redispatched(backend.name);
  }
  if (ctx.hsts) headers.push('strict-transport-security', ctx.hsts);
  if (ctx.setCookie) headers.push('set-cookie', ctx.setCookie);
}

/**
 * Observability taps on Airflow's answer: where a login attempt was sent (login protection), and
 * secret-key drift — the same Airflow session accepted by one node and sent to the login page by
 * another. Returns whether the first body chunk should be inspected (a 400 may carry Airflow's
 * CSRF or signature messages).
 */
export function tapResponse(status: number, headers: readonly string[], ctx: Authenticated, sessionKey: string | undefined, server: UpstreamServer, observer: Observer): boolean {
  const record = ctx.record;
  if (record.loginAttempt && status >= 300 && status < 400) record.location = headerValue(headers, 'location');
  if (status === 400) return true;
  if (sessionKey === undefined) return false;
  const backend = ctx.route.backend.name;
  if (status === 200 && ctx.method === 'GET') observer.drift.sessionAccepted(sessionKey, backend, server.name);
  else if (status === 302 && headerValue(headers, 'location')?.includes('/login')) observer.drift.sessionRefused(sessionKey, backend, server.name);
  return false;
}
