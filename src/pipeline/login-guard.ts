import { readBoundedBody } from '../core/body.js';
import type { Runtime } from '../server/runtime.js';
import { Refusal, type Authenticated, type Filter } from './context.js';
import { learn } from './stage-context.js';
import { bodyRefusal } from './policy.js';

/** Airflow's password forms (Airflow 2 FAB `/login/`, FAB under Airflow 3 `/auth/login/`) and token endpoint (`/auth/token`). */
const LOGIN_PATH = /^\/(?:auth\/)?login\/?$|^\/auth\/token\/?$/i;

/**
 * Login protection for Airflow's own login: an address or user name locked out after repeated
 * failures gets 429 before its attempt reaches Airflow. The form is read whole (any framing, up
 * to `policy.body_limit`) to learn the user name; Airflow's answer is counted when the response
 * ends (see the pipeline).
 */
export function loginGuardFilter(runtime: Runtime): Filter<Authenticated, Authenticated> {
  const guard = runtime.loginGuard;
  const maxBytes = runtime.config.policy.body_limit;
  return function loginGuard(ctx) {
    if (ctx.method !== 'POST' || !LOGIN_PATH.test(ctx.path)) return ctx;
    const left = guard.lockedFor([`ip:${ctx.client}`], Date.now());
    if (left > 0) return new Refusal('AIRGATE_ERR_LOGIN_LOCKED', { retryAfterSeconds: Math.ceil(left / 1000) });
    ctx.record.loginAttempt = true;
    if (ctx.body || !ctx.bodied) return withUser(ctx, ctx.body);
    return readBoundedBody(ctx.req, { maxBytes, idleMs: ctx.listener.bodyIdleMs }).then((body) => withUser(ctx, body), bodyRefusal);
  };

  function withUser(ctx: Authenticated, body: Buffer | undefined): Authenticated | Refusal {
    const user = body ? loginUserOf(body) : undefined;
    ctx.record.loginUser = user;
    if (user !== undefined) {
      const left = guard.lockedFor([`user:${user}`], Date.now());
      if (left > 0) return new Refusal('AIRGATE_ERR_LOGIN_LOCKED', { retryAfterSeconds: Math.ceil(left / 1000) });
    }
    return learn<Authenticated>(ctx, { body, loginAttempt: true });
  }
}

/** The user name of a login form (urlencoded) or token request (JSON). */
function loginUserOf(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  if (text.trimStart().startsWith('{')) {
    try {
      const u = (JSON.parse(text) as { username?: unknown }).username;
      return typeof u === 'string' ? u : undefined;
    } catch {
      return undefined;
    }
  }
  return new URLSearchParams(text).get('username') ?? undefined;
}

/**
 * Count a login attempt by Airflow's answer: a redirect back to the login page (FAB answers a
 * wrong password with 302 to `/login/`), a re-rendered form, 400/401/403 are failures; any other
 * redirect or a created token (201) is a success.
 */
export function loginOutcome(status: number, location: string | undefined): 'success' | 'failure' | undefined {
  if (status === 302 || status === 303 || status === 307) return location !== undefined && /\/login\/?(?:[?#]|$)/i.test(location.replace(/^[a-z]+:\/\/[^/]+/i, '')) ? 'failure' : 'success';
  if (status === 201) return 'success';
  if (status === 200 || status === 400 || status === 401 || status === 403) return 'failure';
  return undefined;
}
