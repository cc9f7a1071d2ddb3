import type { Identity } from '../auth/identity.js';
import type { AuthOutcome, Authenticator } from '../auth/authenticator.js';
import { identityHint } from '../observability/identity-hint.js';
import { wantsHtml } from '../proxy/error-response.js';
import type { Runtime } from '../server/runtime.js';
import { ANSWERED, Refusal, type Authenticated, type Filter, type Routed, type Verdict } from './context.js';
import { learn } from './stage-context.js';

/** The companion header saying identity values are percent-encoded UTF-8. */
export const ENCODING_HEADER = 'X-Auth-Encoding';

/**
 * Identity header values travel as they are when they are printable ASCII without `%`; any
 * other value (`José`, `李雷`, control characters) is sent percent-encoded UTF-8, and the request
 * carries `X-Auth-Encoding: percent` so the Airflow side decodes every identity header.
 */
function plain(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

/**
 * Decide who the request is, once. Routes with `auth: sso | bearer` verify a bearer JWT or the
 * session cookie (public paths excepted); an unauthenticated browser page goes to the IdP, any
 * other request gets 401 with a challenge. Other routes verify nothing: what the request claims
 * (a Basic user, a bearer's `sub`) is noted for the logs, never trusted.
 */
export function authenticateFilter(runtime: Runtime): Filter<Routed, Authenticated> {
  return function authenticate(ctx) {
    const mode = ctx.route.auth;
    if (mode === 'sso' && runtime.auth?.oidc && isAirflowLogin(ctx)) return toGatewayLogin(ctx);
    if ((mode === 'sso' || mode === 'bearer') && !ctx.isPublic && runtime.auth) return verified(ctx, runtime.auth);
    const claimed = identityHint(ctx.req);
    ctx.record.user = claimed.user;
    ctx.record.auth = claimed.auth;
    return learn<Authenticated>(ctx, { claimed });
  };
}

/**
 * Verify the identity and build what Airflow gets from it. Synchronous for a known session whose
 * assertion (or Airflow 3 token) is still cached: the usual request waits for no promise.
 */
function verified(ctx: Routed, auth: Authenticator): Verdict<Authenticated> | Promise<Verdict<Authenticated>> {
  let outcome: AuthOutcome | Promise<AuthOutcome>;
  try {
    outcome = auth.authenticate(ctx.req, ctx.route.auth === 'sso', ctx.proto === 'https');
  } catch (err) {
    outcome = unavailable(ctx, err);
  }
  if (outcome instanceof Promise)
    return outcome.then(
      (o) => decided(ctx, auth, o),
      (err: unknown) => decided(ctx, auth, unavailable(ctx, err)),
    );
  return decided(ctx, auth, outcome);
}

function unavailable(ctx: Routed, err: unknown): AuthOutcome {
  ctx.runtime.logger.error({ requestId: ctx.id, reason: (err as Error).message }, 'authentication failed');
  return { identity: undefined, reason: 'authentication is unavailable' };
}

function decided(ctx: Routed, auth: Authenticator, outcome: AuthOutcome): Verdict<Authenticated> | Promise<Verdict<Authenticated>> {
  if (!outcome.identity) return refused(ctx, auth, outcome.reason);
  const id = outcome.identity;
  ctx.record.user = id.user;
  ctx.record.auth = id.method;
  const setCookie = outcome.setCookie;
  const done = (upstreamIdentity: readonly string[]) => learn<Authenticated>(ctx, { identity: id, upstreamIdentity, claimed: { user: id.user, auth: id.method }, setCookie });
  // Airflow 3 reads only a bearer JWT (or `_token`): it gets a token airgate minted for the user; Airflow 2 the identity headers and assertion.
  if (sendsAirflow3Token(ctx.route)) {
    const bearer = auth.airflow3.bearer(id, Date.now());
    return typeof bearer === 'string' ? done(['authorization', bearer]) : bearer.then((b) => done(['authorization', b]));
  }
  const assertion = auth.signer.assertion(id, ctx.route.name, Date.now());
  return typeof assertion === 'string' ? done(identityHeaders(auth, id, assertion)) : assertion.then((a) => done(identityHeaders(auth, id, a)));
}

/** No identity: a browser page on an SSO route goes to the IdP, anything else gets 401 with a challenge. */
async function refused(ctx: Routed, auth: Authenticator, reason: string): Promise<Refusal | typeof ANSWERED> {
  ctx.record.termination = 'unauthenticated';
  if (ctx.route.auth === 'sso' && !ctx.tunnel && wantsLoginRedirect(ctx)) {
    const login = await auth.loginRedirect(`${ctx.proto}://${ctx.hostHeader ?? `127.0.0.1:${ctx.listener.port}`}`, ctx.target, ctx.proto === 'https');
    ctx.res.writeHead(302, { location: login.location, 'set-cookie': login.setCookie, 'cache-control': 'no-store', 'x-request-id': ctx.id, ...(ctx.hsts ? { 'strict-transport-security': ctx.hsts } : {}) });
    ctx.res.end();
    return ANSWERED;
  }
  return new Refusal('AIRGATE_ERR_UNAUTHENTICATED', { detail: reason, challenge: `Bearer realm="airgate", error="invalid_token", error_description="${reason.replace(/"/g, "'")}"` });
}

/** Airflow 3's login entries (`GET /api/v2/auth/login?next=`, FAB's `/auth/login/`): airgate owns login for Airflow 3. */
const AIRFLOW3_LOGIN = /^\/(?:api\/v2\/auth\/login|auth\/login)\/?$/i;

function isAirflowLogin(ctx: Routed): boolean {
  return (ctx.method === 'GET' || ctx.method === 'HEAD') && !ctx.tunnel && ctx.route.backend.config.airflow === 3 && AIRFLOW3_LOGIN.test(ctx.path);
}

/** Send Airflow's login to airgate's (`/_airgate/login?next=`), which starts the OIDC login or goes straight to `next`. */
function toGatewayLogin(ctx: Routed): typeof ANSWERED {
  const next = new URLSearchParams(ctx.query.slice(1)).get('next');
  const location = `/_airgate/login${next ? `?next=${encodeURIComponent(next)}` : ''}`;
  ctx.res.writeHead(302, { location, 'cache-control': 'no-store', 'x-request-id': ctx.id, ...(ctx.hsts ? { 'strict-transport-security': ctx.hsts } : {}) });
  ctx.res.end();
  return ANSWERED;
}

/** Whether verified requests on this route go upstream with an airgate-minted Airflow 3 token (the client's Authorization removed). */
export function sendsAirflow3Token(route: Routed['route']): boolean {
  return route.backend.config.airflow === 3 && (route.auth === 'sso' || route.auth === 'bearer');
}

/** The headers that hand Airflow the verified identity: names from the config, values encoded by one rule, and the signed assertion. */
function identityHeaders(auth: Authenticator, id: Identity, assertion: string): readonly string[] {
  const names = auth.cfg.headers;
  const groups = id.groups.join(',');
  const encode = !plain(id.user) || !plain(id.role) || !plain(groups) || (id.email !== undefined && !plain(id.email));
  const value = encode ? encodeURIComponent : (v: string) => v;
  const out = [names.user, value(id.user), names.roles, value(id.role), names.groups, value(groups)];
  if (id.email) out.push(names.email, value(id.email));
  if (encode) out.push(ENCODING_HEADER, 'percent');
  out.push(auth.cfg.assertion.header, assertion);
  return out;
}

/** A browser asking for a page (not an API call, not XHR or fetch): it may be sent to the login page. */
function wantsLoginRedirect(ctx: Routed): boolean {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  return wantsHtml(ctx.req, ctx.path);
}
