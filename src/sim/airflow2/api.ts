import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, sendProblem } from '../http-util.js';
import { restApi } from '../rest-api.js';
import type { LineStreamer } from '../sim-endpoints.js';
import type { AirflowState } from '../state.js';
import { AirgateVerifier, type RequestIdentity } from './assertion.js';
import { allowed, fabUserFor, type Need } from './fab.js';

/** The `[api] auth_backends` modules the simulator knows: Airflow's session and basic_auth, and airflow/airgate_api_auth.py. */
export type ApiAuthBackend = 'session' | 'basic_auth' | 'airgate';

interface Attempt {
  user: string | undefined;
  /** The headers of the backend's 401 (`Unauthenticated(headers=response.headers)`). */
  headers: Record<string, string>;
}

export interface ApiContext {
  state: AirflowState;
  streamer: LineStreamer;
  /** The session's user after the session-follow hook (webserver_config.py runs it on /api/ too). */
  sessionUser: string | undefined;
  /** The request's airgate identity, when the airgate backend is configured. */
  identity: (() => Promise<RequestIdentity>) | undefined;
  userClaim: string;
}

/** airflow/providers/fab/auth_manager/api/auth/backend/basic_auth.py: Basic user and password only. */
function basicAuth(req: IncomingMessage, state: AirflowState): Attempt {
  const auth = req.headers.authorization;
  let user: string | undefined;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    const name = colon < 0 ? decoded : decoded.slice(0, colon);
    const row = state.users.get(name);
    if (row?.password !== undefined && row.active !== false && colon >= 0 && row.password === decoded.slice(colon + 1)) user = name;
  }
  return { user, headers: { 'www-authenticate': 'Basic' } };
}

/** airflow/airgate_api_auth.py `api_user` + `authenticate`: the asserted user, created or synced, for this request only. */
async function airgateAuth(ctx: ApiContext): Promise<Attempt> {
  const ident = ctx.identity ? await ctx.identity() : undefined;
  const claims = ident?.claims;
  const asserted = claims?.[ctx.userClaim];
  if (!claims || typeof asserted !== 'string' || !asserted || ident.headerUser !== asserted) return { user: undefined, headers: {} };
  const role = AirgateVerifier.role(claims);
  if (role === undefined) return { user: undefined, headers: {} };
  const user = fabUserFor(ctx.state, asserted, typeof claims.email === 'string' ? claims.email : undefined, role);
  return { user: Array.isArray(user) ? undefined : user, headers: {} };
}

/** The permission an `/api/v1` call needs (airflow/api_connexion/endpoints/*: requires_access_*). */
function need(method: string, parts: readonly string[]): Need {
  if (parts[0] === 'users' || parts[0] === 'roles' || parts[0] === 'permissions') return 'Admin';
  if (parts[0] === 'variables' || parts[0] === 'connections' || parts[0] === 'pools' || parts[0] === 'config') return 'Op';
  return method === 'GET' || method === 'HEAD' ? 'Viewer' : 'User';
}

/**
 * `/api/v1`: airflow/api_connexion/security.py `check_authentication` tries each configured backend
 * in turn, the first that lets the request through wins, else 401 problem+json with the last
 * backend's headers — the remote-user header is never read. Then `requires_access_*`: a role
 * without the permission gets 403 problem+json (PermissionDenied). Sessions are not saved.
 */
export async function apiV1(req: IncomingMessage, res: ServerResponse, path: string, backends: readonly ApiAuthBackend[], ctx: ApiContext): Promise<void> {
  let last: Attempt = { user: undefined, headers: {} };
  for (const b of backends) {
    last = b === 'session' ? { user: ctx.sessionUser, headers: {} } : b === 'basic_auth' ? basicAuth(req, ctx.state) : await airgateAuth(ctx);
    if (last.user !== undefined) break;
  }
  const user = last.user;
  if (user === undefined) return sendProblem(res, 401, 'Unauthorized', null, last.headers);
  const parts = path.split('/').filter(Boolean).slice(2);
  if (!allowed(ctx.state.users.get(user)?.role, need(req.method ?? 'GET', parts))) return sendProblem(res, 403, 'Forbidden', null);
  if (parts[0] === 'users' && parts.length === 1 && req.method === 'GET') {
    const users = [...ctx.state.users].map(([username, u]) => ({ username, email: u.email ?? null, active: u.active !== false, roles: [{ name: u.role }] }));
    return sendJson(res, 200, { users, total_entries: users.length });
  }
  return restApi({ req, res, path, version: 1, state: ctx.state, user, streamer: ctx.streamer });
}
