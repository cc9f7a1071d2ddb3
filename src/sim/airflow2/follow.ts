import type { AirflowState } from '../state.js';
import { AirgateVerifier, type RequestIdentity } from './assertion.js';
import { fabUserFor } from './fab.js';
import type { FabSession } from './session.js';

/** airgate_identity.EXEMPT_PATHS and is_exempt: left alone by the session-follow hook. */
export function isExempt(path: string): boolean {
  return path === '/health' || path === '/api/v1/health' || path === '/robots.txt' || path === '/favicon.ico' || path.startsWith('/static/');
}

/** A refusal the hook answers with a page instead of running the request. */
export interface Refused {
  status: number;
  reason: string;
}

/**
 * "webserver_config.py installed": airflow/webserver_config.py `AirgateSecurityManager.before_request`
 * runs `airgate_identity.session_action` and `follow` before every request, so Airflow's session
 * follows the verified assertion: another user is logged out and the asserted one in, a changed
 * role is synced, a missing or refused assertion ends the session; `/login/` without a usable
 * assertion, and any refused assertion on a page, is a 401/403 page (on `/api/` the auth backends
 * answer instead). Returns the refusal to answer, or undefined to go on.
 */
export function followAssertion(session: FabSession, ident: RequestIdentity, path: string, state: AirflowState, userClaim: string): Refused | undefined {
  if (isExempt(path)) return undefined;
  const api = path.startsWith('/api/');
  const current = session.user;
  const refuse = (status: number, reason: string): Refused | undefined => {
    if (current !== undefined) session.clear();
    return api ? undefined : { status, reason };
  };
  const { claims, headerUser, error } = ident;
  if (!claims) {
    if (error) return refuse(401, `airgate's identity assertion was refused: ${error}`);
    if (current !== undefined) session.clear();
    return path === '/login/' ? { status: 401, reason: 'no airgate identity assertion' } : undefined;
  }
  const asserted = claims[userClaim];
  if (typeof asserted !== 'string' || !asserted) return refuse(401, `the assertion has no '${userClaim}' claim`);
  if (headerUser !== asserted) return refuse(401, `X-Auth-User does not match the assertion's '${userClaim}' claim`);
  const role = AirgateVerifier.role(claims);
  if (role === undefined) return refuse(403, 'the assertion names no Airflow role');
  const email = typeof claims.email === 'string' ? claims.email : undefined;
  const user = fabUserFor(state, asserted, email, role);
  if (Array.isArray(user)) return refuse(user[0], user[1]);
  if (current === undefined || current.toLowerCase() !== user.toLowerCase()) {
    session.clear(); // logout_user, session.clear, _rotate_session_id
    session.login(user);
  }
  return undefined;
}

/** airgate_identity.error_page: what Airflow answers instead of FAB's /login/ redirect loop. */
export function errorPage(refused: Refused, requestId: string | undefined): string {
  const title = refused.status === 401 ? 'Not signed in' : 'Not allowed';
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const rid = requestId ? `<p>Request id: <code>${esc(requestId)}</code></p>` : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${refused.status} ${title}</title></head><body><h1>${refused.status} ${title}</h1><p>Airflow could not use the identity airgate sent: ${esc(refused.reason)}.</p><p><a href="/_airgate/login">Sign in again</a></p>${rid}</body></html>`;
}
