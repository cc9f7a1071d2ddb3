import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendHtml } from './http-util.js';
import { signSession } from './signed-cookie.js';
import type { AirflowState } from './state.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(csrf: string, next: string, message = ''): string {
  return `<!doctype html><html><head><title>Sign In - Airflow</title></head><body>
<h1>Sign In</h1>${message ? `<div class="alert alert-danger">${esc(message)}</div>` : ''}
<form method="post" action="/login/?next=${encodeURIComponent(next)}">
<input type="hidden" name="csrf_token" value="${csrf}">
<label>Username <input name="username" id="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<input type="submit" value="Sign In" id="submit">
</form></body></html>\n`;
}

export interface UiContext {
  node: string;
  secretKey: string;
  state: AirflowState;
  session: Record<string, unknown> | undefined;
  sessionBad: boolean;
}

function sessionCookie(data: Record<string, unknown>, secretKey: string): string {
  return `session=${signSession(data, secretKey)}; HttpOnly; Path=/; SameSite=Lax`;
}

/** `/login/`: the FAB login form with a CSRF token kept in the signed session cookie. */
export async function login(req: IncomingMessage, res: ServerResponse, url: URL, ctx: UiContext, remoteUser: string | undefined): Promise<void> {
  const next = url.searchParams.get('next') ?? '/home';
  if (req.method === 'GET') {
    if (remoteUser) {
      res.writeHead(302, { location: next, 'set-cookie': sessionCookie({ user: remoteUser }, ctx.secretKey) }).end();
      return;
    }
    const csrf = randomBytes(16).toString('hex');
    return sendHtml(res, 200, loginPage(csrf, next), { 'set-cookie': sessionCookie({ csrf }, ctx.secretKey) });
  }
  const form = new URLSearchParams((await readBody(req)).toString());
  const csrf = form.get('csrf_token') ?? req.headers['x-csrftoken'];
  if (ctx.sessionBad || !ctx.session || typeof ctx.session.csrf !== 'string' || ctx.session.csrf !== csrf) {
    return sendHtml(res, 400, '<!doctype html><title>400 Bad Request</title><h1>Bad Request</h1><p>The CSRF session token is missing.</p>\n');
  }
  const username = form.get('username') ?? '';
  const user = ctx.state.users.get(username);
  if (!user || user.password !== form.get('password')) {
    return sendHtml(res, 200, loginPage(ctx.session.csrf, next, 'Invalid login. Please try again.'));
  }
  res.writeHead(302, { location: next.startsWith('/') ? next : '/home', 'set-cookie': sessionCookie({ user: username }, ctx.secretKey) }).end();
}

export function logout(res: ServerResponse): void {
  res.writeHead(302, { location: '/login/', 'set-cookie': 'session=; Path=/; Max-Age=0' }).end();
}

/** Any other UI page: the user's home when logged in, else a redirect to the login form. */
export function page(req: IncomingMessage, res: ServerResponse, url: URL, ctx: UiContext): void {
  const user = typeof ctx.session?.user === 'string' ? ctx.session.user : undefined;
  if (!user) {
    const host = req.headers['x-forwarded-host'] ?? req.headers.host ?? 'localhost:8080';
    const proto = req.headers['x-forwarded-proto'] ?? 'http';
    const next = `${proto}://${host}${url.pathname}${url.search}`;
    res.writeHead(302, { location: `/login/?next=${encodeURIComponent(next)}` }).end();
    return;
  }
  const dags = [...ctx.state.dags.values()].map((d) => `<li>${esc(d.dag_id)}</li>`).join('');
  sendHtml(res, 200, `<!doctype html><html><head><title>Airflow</title></head><body><h1>Airflow</h1>
<p id="user">Logged in as ${esc(user)}</p><p id="node">Served by ${esc(ctx.node)}</p><ul id="dags">${dags}</ul></body></html>\n`);
}
