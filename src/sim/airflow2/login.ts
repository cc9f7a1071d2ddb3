import type { IncomingMessage } from 'node:http';
import { readBody } from '../http-util.js';
import type { AirflowState } from '../state.js';
import { environHeader } from './assertion.js';
import { authUserRemoteUser } from './fab.js';
import type { FabSession } from './session.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** FAB's AuthView.invalid_login_message (flask_appbuilder/security/views.py). */
export const INVALID_LOGIN = 'Invalid login. Please try again.';

/** What a request tells the views about where it came from (ProxyFix with enable_proxy_fix = True, one hop). */
export function requestHost(req: IncomingMessage): string {
  const h = req.headers['x-forwarded-host'] ?? req.headers.host ?? 'localhost:8080';
  return String(h).split(',').at(-1)!.trim();
}

/**
 * flask_appbuilder/utils/base.py get_safe_redirect: `next` when it is a path or a URL on this host,
 * else the index (`/`, Airflow's index view).
 */
export function safeRedirect(req: IncomingMessage, next: string | null): string {
  if (!next) return '/';
  try {
    const u = new URL(next, 'http://relative.invalid');
    if (next.startsWith('//') || next.includes('\\')) return '/';
    if (u.host === 'relative.invalid') return next;
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === requestHost(req) ? next : '/';
  } catch {
    return '/';
  }
}

/**
 * The script root under ProxyFix with x_prefix = 1 (`enable_proxy_fix`, werkzeug/middleware/proxy_fix.py):
 * the last `X-Forwarded-Prefix` hop becomes SCRIPT_NAME, so it prefixes every URL Airflow makes.
 */
export function scriptRoot(req: IncomingMessage): string {
  const p = req.headers['x-forwarded-prefix'];
  const last = typeof p === 'string' ? p.split(',').at(-1)!.trim().replace(/\/+$/, '') : '';
  return last;
}

export function loginUrl(next: string, root = ''): string {
  return `${root}/login/?next=${encodeURIComponent(next)}`;
}

/**
 * Flask-WTF CSRFProtect (flask_wtf/csrf.py): a POST needs the session's token, in the form field
 * `csrf_token` or the `X-CSRFToken` header; its 400 answers name what is wrong.
 */
export function csrfProblem(req: IncomingMessage, session: FabSession, form: URLSearchParams | undefined): string | undefined {
  const given = form?.get('csrf_token') ?? req.headers['x-csrftoken'];
  if (!given) return 'The CSRF token is missing.';
  if (!session.csrf) return 'The CSRF session token is missing.';
  return given === session.csrf ? undefined : 'The CSRF tokens do not match.';
}

function loginPage(csrf: string, next: string, flashes: string[]): string {
  const alerts = flashes.map((m) => `<div class="alert alert-warning">${esc(m)}</div>`).join('');
  return `<!doctype html><html><head><title>Sign In - Airflow</title></head><body>
<h1>Sign In</h1>${alerts}
<form method="post" action="${esc(loginUrl(next))}">
<input type="hidden" name="csrf_token" value="${csrf}">
<label>Username <input name="username" id="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<input type="submit" value="Sign In" id="submit">
</form></body></html>\n`;
}

export interface LoginMode {
  /** AUTH_REMOTE_USER: the header FAB reads through AUTH_REMOTE_USER_ENV_VAR; undefined: AUTH_DB. */
  remoteUserHeader: string | undefined;
  registrationRole: string | undefined;
}

type Reply = (status: number, headers?: Record<string, string>, html?: string) => void;

/** What the login view is called with. */
export interface LoginRequest {
  req: IncomingMessage;
  url: URL;
  session: FabSession;
  state: AirflowState;
  mode: LoginMode;
  reply: Reply;
}

/**
 * `/login/`. AUTH_DB (AuthDBView.login, flask_appbuilder/security/views.py): a logged-in user goes
 * to the index; GET renders the form; a valid POST logs in and redirects to the safe `next`; a
 * wrong password flashes "Invalid login. Please try again." and answers 302 back to
 * `/login/?next=…`. AUTH_REMOTE_USER (AuthRemoteUserView.login): GET only; a session that already
 * holds a user is redirected to `next` without looking at the header; otherwise the header's raw
 * value (FAB does not decode it) goes to auth_user_remote_user, and success or failure (a flash)
 * both redirect to `next` — for an unknown user that is the redirect loop real FAB produces.
 */
export async function login(r: LoginRequest): Promise<void> {
  const { req, url, session, state, mode, reply } = r;
  const next = url.searchParams.get('next');
  if (mode.remoteUserHeader !== undefined) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, {}, '<!doctype html><title>405 Method Not Allowed</title><h1>Method Not Allowed</h1>\n');
    if (session.user === undefined) {
      const username = environHeader(req, mode.remoteUserHeader) || undefined;
      const user = username === undefined ? undefined : authUserRemoteUser(state, username, mode.registrationRole);
      if (user === undefined) session.flash(INVALID_LOGIN);
      else session.login(user);
    }
    return reply(302, { location: safeRedirect(req, next) });
  }
  if (session.user !== undefined) return reply(302, { location: '/' });
  if (req.method !== 'POST') return reply(200, {}, loginPage(session.csrfToken(), next ?? '', session.takeFlashes()));
  const form = new URLSearchParams((await readBody(req)).toString());
  const problem = csrfProblem(req, session, form);
  if (problem) return reply(400, {}, `<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>${esc(problem)}</p>\n`);
  const target = safeRedirect(req, next);
  const username = form.get('username') ?? '';
  const user = state.users.get(username);
  if (!user || user.password === undefined || user.password !== form.get('password') || user.active === false) {
    session.flash(INVALID_LOGIN);
    return reply(302, { location: loginUrl(target) });
  }
  session.login(username);
  reply(302, { location: target });
}

/**
 * FAB's login rate limit (AUTH_RATE_LIMITED, AUTH_RATE_LIMIT "5 per 40 second", applied with
 * flask-limiter to the auth view's POSTs per remote address; flask_appbuilder/security/manager.py).
 */
export class LoginRateLimit {
  private readonly hits = new Map<string, number[]>();
  constructor(
    readonly count: number,
    readonly windowMs: number,
  ) {}

  /** Whether one more login POST from `address` is over the limit (and count it if not). */
  exceeded(address: string, now: number): boolean {
    const recent = (this.hits.get(address) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length >= this.count) {
      this.hits.set(address, recent);
      return true;
    }
    recent.push(now);
    if (this.hits.size > 10_000) this.hits.clear();
    this.hits.set(address, recent);
    return false;
  }
}
