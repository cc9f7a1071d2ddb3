import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { parseCookies, signSession, verifySession } from '../signed-cookie.js';

/**
 * Flask's signed `session` cookie as FAB and Flask-Login use it: the logged-in user
 * (`_user_id`), the CSRF token Flask-WTF keeps there, and flashed messages shown on the next
 * page. Read once per request; written back only when changed (Flask's SecureCookieSessionInterface).
 */
export class FabSession {
  private data: Record<string, unknown>;
  modified = false;
  /** The cookie came but its signature does not match this node's `secret_key`. */
  readonly badSignature: boolean;

  constructor(req: IncomingMessage, secretKey: string) {
    const check = verifySession(parseCookies(req.headers.cookie).get('session'), secretKey);
    this.data = check.ok ? check.data : {};
    this.badSignature = !check.ok && check.reason === 'bad-signature';
  }

  get user(): string | undefined {
    return typeof this.data.user === 'string' ? this.data.user : undefined;
  }

  get csrf(): string | undefined {
    return typeof this.data.csrf === 'string' ? this.data.csrf : undefined;
  }

  /** flask_login.login_user */
  login(user: string): void {
    this.data = { ...this.data, user };
    this.modified = true;
  }

  /** flask_login.logout_user + session.clear() (airgate_identity.follow does both). */
  clear(): void {
    this.data = {};
    this.modified = true;
  }

  /** Flask-WTF's generate_csrf: one token per session, made when a page with a form needs it. */
  csrfToken(): string {
    if (!this.csrf) {
      this.data = { ...this.data, csrf: randomBytes(16).toString('hex') };
      this.modified = true;
    }
    return this.csrf!;
  }

  flash(message: string): void {
    const list = Array.isArray(this.data.flashes) ? (this.data.flashes as string[]) : [];
    this.data = { ...this.data, flashes: [...list, message] };
    this.modified = true;
  }

  /** get_flashed_messages(): shown once. */
  takeFlashes(): string[] {
    const list = Array.isArray(this.data.flashes) ? (this.data.flashes as string[]) : [];
    if (list.length === 0) return [];
    const { flashes: _f, ...rest } = this.data;
    this.data = rest;
    this.modified = true;
    return list;
  }

  /** The Set-Cookie header for this session, when it changed. */
  setCookie(secretKey: string): Record<string, string> {
    if (!this.modified) return {};
    if (Object.keys(this.data).length === 0) return { 'set-cookie': 'session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/; SameSite=Lax' };
    return { 'set-cookie': `session=${signSession(this.data, secretKey)}; HttpOnly; Path=/; SameSite=Lax` };
  }
}
