import type { Authenticated } from '../pipeline/context.js';
import type { Observer } from '../observability/observer.js';
import type { UpstreamServer } from '../upstream/server.js';

/** A header's value from a flat `[name, value, …]` list (any case). */
export function headerValue(headers: readonly string[], lname: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.length === lname.length && headers[i]!.toLowerCase() === lname) return headers[i + 1];
  return undefined;
}

/** One answer as the decorators and taps see it. */
export interface Answer {
  readonly ctx: Authenticated;
  /** The server that answered. */
  readonly server: UpstreamServer;
  readonly observer: Observer;
  /** Server named by a valid sticky cookie, and whether that cookie is due for renewal. */
  readonly stickyName: string | undefined;
  readonly stickyRefresh: boolean;
  /** The start of the Airflow `session` cookie, for secret-key drift detection. */
  readonly sessionKey: string | undefined;
}

/**
 * Response decorators: the headers the gateway adds to Airflow's answer — a (renewed) sticky
 * cookie naming the server that answered, Strict-Transport-Security, a renewed session cookie.
 */
export function decorate(headers: string[], a: Answer): void {
  const { ctx, server, observer } = a;
  const backend = ctx.route.backend;
  const sticky = backend.sticky;
  if (sticky && (a.stickyName !== server.name || a.stickyRefresh)) {
    headers.push('set-cookie', sticky.setCookie(server.name, Date.now(), ctx.proto === 'https'));
    if (a.stickyName !== undefined && a.stickyName !== server.name) observer.metrics.redispatched(backend.name);
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
export function tapResponse(status: number, headers: readonly string[], a: Answer): boolean {
  const { ctx, sessionKey, server, observer } = a;
  const record = ctx.record;
  if (record.loginAttempt && status >= 300 && status < 400) record.location = headerValue(headers, 'location');
  if (status === 400) return true;
  if (sessionKey === undefined) return false;
  const backend = ctx.route.backend.name;
  if (status === 200 && ctx.method === 'GET') observer.drift.sessionAccepted(sessionKey, backend, server.name);
  else if (status === 302 && headerValue(headers, 'location')?.includes('/login')) observer.drift.sessionRefused(sessionKey, backend, server.name);
  return false;
}
