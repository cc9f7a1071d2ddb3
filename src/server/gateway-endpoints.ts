import type { ServerResponse } from 'node:http';
import { readBoundedBody } from '../core/body.js';
import { GatewayError } from '../core/errors.js';
import { sendError } from '../proxy/error-response.js';
import type { Endpoints } from '../pipeline/pipeline.js';
import type { RequestContext } from '../pipeline/context.js';
import { sameOriginPath, type Authenticator } from '../auth/authenticator.js';

/** Bodies the gateway's own endpoints read (back-channel logout tokens are a few KB). */
const ENDPOINT_BODY_BYTES = 65_536;

/** Airflow's own logout (Airflow 2 `POST /logout/`, Airflow 3 `/api/v2/auth/logout`, FAB's `/auth/logout`): airgate's logout answers it on SSO routes. */
const AIRFLOW_LOGOUT = /^\/(?:logout|api\/v2\/auth\/logout|auth\/logout)\/?$/i;

/** Airflow's session cookies, expired by airgate's logout so Airflow's session never outlives airgate's. */
const AIRFLOW_COOKIES = ['session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax', '_token=; Path=/; Max-Age=0; SameSite=Lax'];

function json(ctx: RequestContext, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-request-id': ctx.id, ...headers });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : text);
}

function origin(ctx: RequestContext): string {
  return `${ctx.proto}://${ctx.hostHeader ?? `127.0.0.1:${ctx.listener.port}`}`;
}

/**
 * Whether a state-changing request (logout) comes from this site: the browser says so
 * (`Sec-Fetch-Site: same-origin | none`), or its Origin is this origin. A request with neither
 * header is not a browser's cross-site request (curl, scripts) and passes.
 */
function sameSite(ctx: RequestContext): boolean {
  const site = ctx.req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const o = ctx.req.headers.origin;
  return o === undefined || o === origin(ctx);
}

const CONFIRM_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem;color:#222}button{font:inherit;padding:.4rem 1rem}</style></head>
<body><h1>Sign out?</h1><form method="post" action="/_airgate/logout"><button type="submit">Sign out</button></form></body></html>\n`;

/**
 * `/_airgate/health`, `/jwks.json`, `/login`, `/callback`, `/logout`, `/userinfo`, `/backchannel-logout`.
 * Everything they read from a client is bounded; logout is refused to other sites (a cross-site
 * GET gets a confirmation page, a cross-site POST 403).
 */
export class GatewayEndpoints implements Endpoints {
  handle(ctx: RequestContext, draining: boolean): void | Promise<void> {
    const hsts = ctx.hsts;
    if (ctx.path === '/_airgate/health') {
      return json(ctx, draining ? 503 : 200, { status: draining ? 'stopping' : 'ok' }, hsts ? { 'strict-transport-security': hsts } : {});
    }
    const auth = ctx.runtime.auth;
    if (auth) {
      switch (ctx.path) {
        case '/_airgate/jwks.json':
          return json(ctx, 200, auth.jwks(), { 'cache-control': 'public, max-age=300' });
        case '/_airgate/callback':
          if (auth.oidc) return this.callback(ctx, auth);
          break;
        case '/_airgate/login':
          if (auth.oidc && (ctx.method === 'GET' || ctx.method === 'HEAD')) return this.login(ctx, auth);
          break;
        case '/_airgate/logout':
          return this.logout(ctx, auth);
        case '/_airgate/userinfo':
          return this.userinfo(ctx, auth);
        case '/_airgate/backchannel-logout':
          if (ctx.method === 'POST' && auth.oidc) return this.backchannel(ctx, auth);
          break;
      }
    }
    sendError(ctx.req, ctx.res, 'AIRGATE_ERR_NO_ROUTE', ctx.id, { hsts, path: ctx.path });
  }

  private async callback(ctx: RequestContext, auth: Authenticator): Promise<void> {
    const done = await this.idp(ctx, () => auth.callback(ctx.req, origin(ctx), ctx.target, ctx.proto === 'https'));
    if (!done) return;
    if ('error' in done) {
      ctx.record.termination = 'login-failed';
      ctx.runtime.loginGuard.failure([`ip:${ctx.client}`], Date.now());
      ctx.runtime.logger.warn({ requestId: ctx.id, client: ctx.client, reason: done.error }, 'login failed');
      return sendError(ctx.req, ctx.res, 'AIRGATE_ERR_LOGIN_FAILED', ctx.id, { detail: done.error, hsts: ctx.hsts, path: ctx.path });
    }
    redirect(ctx.res, ctx.id, done.location, done.cookies, ctx.hsts);
  }

  isAirflowLogout(path: string): boolean {
    return AIRFLOW_LOGOUT.test(path);
  }

  /** airgate's logout, also answering Airflow's own logout paths on SSO routes. */
  async logout(ctx: RequestContext, auth: Authenticator | undefined = ctx.runtime.auth): Promise<void> {
    if (!auth) return sendError(ctx.req, ctx.res, 'AIRGATE_ERR_NO_ROUTE', ctx.id, { path: ctx.path });
    if (!sameSite(ctx)) {
      if (ctx.method === 'GET' || ctx.method === 'HEAD') {
        ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(CONFIRM_PAGE), 'cache-control': 'no-store', 'x-request-id': ctx.id });
        return void ctx.res.end(ctx.method === 'HEAD' ? undefined : CONFIRM_PAGE);
      }
      return sendError(ctx.req, ctx.res, 'AIRGATE_ERR_FORBIDDEN', ctx.id, { detail: 'Logout is accepted only from this site.', path: ctx.path });
    }
    const out = await this.idp(ctx, async () => auth.logout((await auth.authenticate(ctx.req, true, false)).identity, origin(ctx)));
    if (out) redirect(ctx.res, ctx.id, out.location, [out.cookie, ...AIRFLOW_COOKIES], ctx.hsts);
  }

  /**
   * `/_airgate/login?next=`: Airflow 3's login (its auth manager's `get_url_login`, and
   * `/api/v2/auth/login`) lands here. A signed-in user goes straight to `next`; anyone else to
   * the IdP, coming back to `next`. `next` may be a path or an absolute URL of this origin; any
   * other value becomes `/`.
   */
  private async login(ctx: RequestContext, auth: Authenticator): Promise<void> {
    const here = origin(ctx);
    const next = returnPath(new URLSearchParams(ctx.query.slice(1)).get('next'), here);
    const secure = ctx.proto === 'https';
    const who = await this.idp(ctx, async () => auth.authenticate(ctx.req, true, secure));
    if (!who) return;
    if (who.identity) return redirect(ctx.res, ctx.id, next, who.setCookie ? [who.setCookie] : [], ctx.hsts);
    const started = await this.idp(ctx, () => auth.loginRedirect(here, next, secure));
    if (started) redirect(ctx.res, ctx.id, started.location, [started.setCookie], ctx.hsts);
  }

  private async userinfo(ctx: RequestContext, auth: Authenticator): Promise<void> {
    const who = await auth.authenticate(ctx.req, true, false);
    if (!who.identity) return sendError(ctx.req, ctx.res, 'AIRGATE_ERR_UNAUTHENTICATED', ctx.id, { detail: who.reason, challenge: 'Bearer realm="airgate"', path: ctx.path });
    const { sub, user, email, groups, role, method } = who.identity;
    json(ctx, 200, { sub, user, email, groups, role, auth: method });
  }

  private async backchannel(ctx: RequestContext, auth: Authenticator): Promise<void> {
    let body: Buffer;
    try {
      body = await readBoundedBody(ctx.req, { maxBytes: ENDPOINT_BODY_BYTES, idleMs: ctx.listener.bodyIdleMs });
    } catch (err) {
      ctx.res.shouldKeepAlive = false;
      return sendError(ctx.req, ctx.res, err instanceof GatewayError ? err.code : 'AIRGATE_ERR_BAD_REQUEST', ctx.id, { path: ctx.path });
    }
    const token = new URLSearchParams(body.toString()).get('logout_token');
    if (!token) return json(ctx, 400, { error: 'invalid_request', error_description: 'logout_token is required' });
    try {
      await auth.backchannelLogout(token);
      json(ctx, 200, {});
    } catch (err) {
      json(ctx, 400, { error: 'invalid_request', error_description: (err as Error).message });
    }
  }

  /** Run a step that talks to the IdP; its failure is a 502 naming the IdP, not the gateway's crash. */
  private async idp<T>(ctx: RequestContext, step: () => Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (err) {
      ctx.runtime.logger.error({ requestId: ctx.id, path: ctx.path, reason: (err as Error).message }, 'gateway endpoint failed');
      if (!ctx.res.headersSent) sendError(ctx.req, ctx.res, 'AIRGATE_ERR_UPSTREAM_PROTOCOL', ctx.id, { detail: 'The identity provider could not be reached.', path: ctx.path });
      else ctx.res.destroy();
      return undefined;
    }
  }
}

/** `next` as a path of this origin: a same-origin absolute URL loses its origin; anything else is `/`. */
function returnPath(next: string | null, here: string): string {
  if (!next) return '/';
  if (/^https?:\/\//i.test(next)) {
    try {
      const u = new URL(next);
      return u.origin === new URL(here).origin ? sameOriginPath(`${u.pathname}${u.search}`) : '/';
    } catch {
      return '/';
    }
  }
  return sameOriginPath(next);
}

function redirect(res: ServerResponse, id: string, location: string, cookies: string[], hsts?: string): void {
  res.writeHead(302, { location, 'set-cookie': cookies, 'cache-control': 'no-store', 'x-request-id': id, ...(hsts ? { 'strict-transport-security': hsts } : {}) });
  res.end();
}
