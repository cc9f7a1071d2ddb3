import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { healthBody } from '../health.js';
import { readJson, sendHtml, sendJson } from '../http-util.js';
import { restApi } from '../rest-api.js';
import { parseCookies } from '../signed-cookie.js';
import type { Faults } from '../faults.js';
import type { LineStreamer } from '../sim-endpoints.js';
import type { AirflowState } from '../state.js';
import { deserializeUser, isAuthorized, UnknownRole, type Resource, type SimUser } from './auth-manager.js';
import { dumps, loads } from './continuation.js';
import { JwtValidator } from './jwt-validator.js';
import { generateToken, type OwnKey } from './own-tokens.js';
import { detail, sendJson3 } from './respond.js';
import { TrustedJwks } from './trusted-jwks.js';
import { uiApi, uiDagId } from './ui-api.js';

/** Airflow 3 settings the simulated api-server takes (the `[api_auth]`, `[api]` and auth manager options). */
export interface Airflow3Options {
  /** `[api_auth] jwt_secret` (HS512); ignored when `trustedJwksUrl` is set (they are mutually exclusive). */
  jwtSecret: string;
  /** `[api_auth] trusted_jwks_url`: a file or URL whose keys replace every other verification key. */
  trustedJwksUrl?: string | undefined;
  /** With trustedJwksUrl: `jwt_private_key_path` + `jwt_kid` (Airflow's own tokens; its public key must be in the JWKS). */
  privateKey?: { key: KeyObject; kid: string; alg: string } | undefined;
  /** `[api_auth] jwt_algorithm` (required with a JWKS; default: the private key's and ES256). */
  jwtAlgorithms?: readonly string[] | undefined;
  /** `[api_auth] jwt_audience` (default `apache-airflow`). */
  jwtAudience?: string | undefined;
  /** `[api_auth] jwt_issuer` (checked only when set). */
  jwtIssuer?: string | undefined;
  /** The auth manager's `get_url_login()` (SimpleAuthManager: `/auth/login`; airgate's manager: `/_airgate/login`). */
  loginUrl?: string | undefined;
  /** The auth manager's `get_url_logout()` (undefined: the login URL). */
  logoutUrl?: string | undefined;
  /** How often the trusted JWKS is re-fetched (Airflow: 3600 s). */
  jwksRefreshMs?: number | undefined;
}

export interface Airflow3Host {
  readonly name: string;
  readonly state: AirflowState;
  readonly streamer: LineStreamer;
  readonly faults: Faults;
  /** `[api] secret_key` (log continuation tokens). */
  readonly secretKey: string;
}

/** The Execution API's audience (airflow-core/src/airflow/api_fastapi/execution_api/app.py). */
const TASK_AUDIENCE = 'urn:airflow.apache.org:task';

/**
 * The simulated Airflow 3 api-server: public REST API `/api/v2`, private UI API `/ui`, the auth
 * manager's `/auth`, the Task Execution API `/execution`, and the UI's index.html for every
 * other path. Token checks follow `JWTValidator`, errors follow core_api/security.py, roles follow
 * SimpleAuthManager. The facts and their source files are in shared/airflow-facts.md.
 */
export class Airflow3Api {
  readonly jwks: TrustedJwks | undefined;
  private readonly api: JwtValidator;
  private readonly execution: JwtValidator;
  private readonly own: OwnKey | undefined;

  constructor(
    private readonly host: Airflow3Host,
    private readonly o: Airflow3Options,
  ) {
    this.jwks = o.trustedJwksUrl ? new TrustedJwks(o.trustedJwksUrl, o.jwksRefreshMs) : undefined;
    this.own = o.privateKey ? { privateKey: o.privateKey.key, kid: o.privateKey.kid, alg: o.privateKey.alg } : undefined;
    const algorithms = this.jwks ? (o.jwtAlgorithms ?? [...(o.privateKey ? [o.privateKey.alg] : []), 'ES256']) : ['HS512'];
    const common = { secret: this.jwks ? undefined : o.jwtSecret, jwks: this.jwks, issuer: o.jwtIssuer, algorithms };
    this.api = new JwtValidator({ ...common, audience: o.jwtAudience ?? 'apache-airflow' });
    // trusted_jwks_url replaces every verification key, the Execution API's included.
    this.execution = new JwtValidator({ ...common, audience: TASK_AUDIENCE });
  }

  /** A token this api-server signs (`/auth/token`, workers' task tokens). */
  token(extras: Record<string, unknown>, audience = this.o.jwtAudience ?? 'apache-airflow', validForS = 86_400): Promise<string> {
    return generateToken(extras, { secret: this.own ? undefined : this.o.jwtSecret, key: this.own, audience, issuer: this.o.jwtIssuer, validForS });
  }

  /** A worker's task token (`aud = urn:airflow.apache.org:task`, `sub` = the task instance id). */
  workerToken(tiId: string, validForS = 600): Promise<string> {
    return this.token({ sub: tiId }, TASK_AUDIENCE, validForS);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/api/v2/monitor/health') return sendJson(res, 200, healthBody(this.host.faults, new Date()));
    if (path === '/api/v2/version') return sendJson(res, 200, { version: '3.1.0', git_version: null });
    if (path === '/health') return sendJson(res, 404, { error: 'Moved in Airflow 3. Please change config to check `/api/v2/monitor/health`' });
    if (path.startsWith('/api/v1/')) return sendJson(res, 404, { error: '/api/v1 has been removed in Airflow 3, please use its upgraded version /api/v2 instead.' });
    if (path === '/api/v2/auth/login' && method === 'GET') return this.login(req, res, url);
    if (path === '/api/v2/auth/logout' && method === 'GET') return this.logout(res);
    if (path.startsWith('/auth/')) return this.authApp(req, res, path);
    if (path.startsWith('/execution/')) return this.executionApi(req, res, path);
    if (path.startsWith('/api/v2/') || path.startsWith('/ui/')) {
      const user = await this.user(req, res);
      if (!user) return;
      try {
        return await this.route(req, res, url, user);
      } catch (err) {
        if (err instanceof UnknownRole) return sendHtml(res, 500, 'Internal Server Error');
        throw err;
      }
    }
    if (path.startsWith('/api/')) return sendJson(res, 404, { error: 'API route not found' });
    return sendHtml(res, 200, `<!doctype html><html><head><title>Airflow</title></head><body><div id="root" data-node="${this.host.name}"></div></body></html>\n`);
  }

  /**
   * core_api/security.py: the token from `Authorization: Bearer`, else the `_token` cookie; none →
   * 401 "Not authenticated" (OAuth2PasswordBearer, `WWW-Authenticate: Bearer`); expired → 401
   * "Token Expired"; any other InvalidTokenError → 403 "Invalid JWT token"; an unknown kid → 500.
   */
  private async user(req: IncomingMessage, res: ServerResponse): Promise<SimUser | undefined> {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : parseCookies(req.headers.cookie).get('_token');
    if (!token) return void detail(req, res, 401, 'Not authenticated', { 'www-authenticate': 'Bearer' });
    const v = await this.api.validate(token);
    if (!v.ok) {
      if (v.kind === 'unknown-kid') return void sendHtml(res, 500, 'Internal Server Error');
      return void (v.kind === 'expired' ? detail(req, res, 401, 'Token Expired') : detail(req, res, 403, 'Invalid JWT token'));
    }
    try {
      return deserializeUser(v.claims);
    } catch {
      return void sendHtml(res, 500, 'Internal Server Error');
    }
  }

  /** `_requires_access`: 403 "Forbidden" when the auth manager says no. */
  private allowed(req: IncomingMessage, res: ServerResponse, user: SimUser, resource: Resource): boolean {
    if (isAuthorized(user, resource, req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'))) return true;
    detail(req, res, 403, 'Forbidden');
    return false;
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, user: SimUser): Promise<void> {
    const path = url.pathname;
    if (path.startsWith('/ui/')) {
      if (uiDagId(path) === undefined) return detail(req, res, 404, 'Not Found');
      if (!this.allowed(req, res, user, 'dag')) return;
      return uiApi(req, res, path, this.host.state);
    }
    if (path === '/api/v2/backfills' || path.startsWith('/api/v2/backfills/')) {
      if (!this.allowed(req, res, user, 'backfill')) return;
      return this.backfills(req, res);
    }
    for (const r of ['connections', 'variables', 'pools', 'config'] as const) {
      if (path === `/api/v2/${r}` || path.startsWith(`/api/v2/${r}/`)) {
        if (!this.allowed(req, res, user, r === 'config' ? 'configuration' : (r.slice(0, -1) as Resource))) return;
        return sendJson3(req, res, 200, { [r]: [], total_entries: 0 });
      }
    }
    if (path.startsWith('/api/v2/dags') && !this.allowed(req, res, user, 'dag')) return;
    const logs = /^\/api\/v2\/dags\/[^/]+\/dagRuns\/[^/]+\/taskInstances\/[^/]+\/logs\/\d+$/.test(path);
    if (logs && !(req.headers.accept ?? '').includes('text/plain')) return this.logs(req, res, url);
    return restApi({ req, res, path, version: 2, state: this.host.state, user: user.username, streamer: this.host.streamer });
  }

  /** `POST /api/v2/backfills` needs `dag_id` (routes/public/backfills.py); the list reads `dag_id` from the query. */
  private async backfills(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST') {
      const body = ((await readJson(req)) ?? {}) as { dag_id?: string };
      if (!body.dag_id || !this.host.state.dags.has(body.dag_id)) return detail(req, res, 404, `Could not find dag ${body.dag_id}`);
      return sendJson3(req, res, 200, { id: 1, dag_id: body.dag_id, is_paused: false });
    }
    return sendJson3(req, res, 200, { backfills: [], total_entries: 0 });
  }

  /**
   * routes/public/log.py: `?token=` must be a continuation token this api-server's `[api]
   * secret_key` signed (400 "Bad Signature..." otherwise); the answer carries a new one, and an
   * ndjson stream the `Airflow-Continuation-Token` header.
   */
  private async logs(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const given = url.searchParams.get('token');
    let metadata: Record<string, unknown> = {};
    if (given) {
      const m = loads(given, this.host.secretKey);
      if (m === undefined || typeof m !== 'object' || m === null) return detail(req, res, 400, 'Bad Signature. Please use only the tokens provided by the API.');
      metadata = m as Record<string, unknown>;
    }
    const next = dumps({ ...metadata, end_of_log: true, log_pos: 5, download_logs: false }, this.host.secretKey);
    const task = url.pathname.split('/')[8];
    const render = (i: number) => `[2024-11-01T12:00:0${i % 10}.000+0000] {taskinstance.py:${100 + i}} INFO - log line ${i} of ${task}`;
    if ((req.headers.accept ?? '').includes('application/x-ndjson')) {
      return this.host.streamer.serve(res, { lines: 5, contentType: 'application/x-ndjson', gated: false, intervalMs: 50, render: (i) => `${JSON.stringify({ event: render(i) })}\n`, headers: { 'airflow-continuation-token': next } });
    }
    sendJson3(req, res, 200, { content: [1, 2, 3, 4, 5].map((i) => ({ event: render(i) })), continuation_token: next });
  }

  /** routes/public/auth.py `login`: 307 to the auth manager's login URL with `next` (400 for an unsafe `next`). */
  private login(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const next = url.searchParams.get('next');
    if (next && !safeNext(next, req)) return detail(req, res, 400, 'Invalid or unsafe next URL');
    const target = (this.o.loginUrl ?? '/auth/login') + (next ? `?${new URLSearchParams({ next }).toString()}` : '');
    res.writeHead(307, { location: target, 'content-length': 0 }).end();
  }

  /** routes/public/auth.py `logout`: 307 to the logout (or login) URL, `_token` deleted. */
  private logout(res: ServerResponse): void {
    res.writeHead(307, { location: this.o.logoutUrl ?? this.o.loginUrl ?? '/auth/login', 'set-cookie': '_token=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/; SameSite=lax', 'content-length': 0 }).end();
  }

  /**
   * The auth manager's app under `/auth` (simple/routes/login.py): `POST /auth/token` with
   * username and password → 201 `{"access_token"}` (claims from `serialize_user`: sub, role), 401
   * otherwise; any other `/auth/*` path is its login page (index.html).
   */
  private async authApp(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/auth/token' && req.method === 'POST') {
      const body = ((await readJson(req)) ?? {}) as { username?: string; password?: string };
      const user = body.username ? this.host.state.users.get(body.username) : undefined;
      if (!user || user.password !== body.password) return sendJson(res, 401, { detail: 'Invalid credentials' });
      return sendJson(res, 201, { access_token: await this.token({ sub: body.username, role: user.role.toUpperCase() }) });
    }
    return sendHtml(res, 200, '<!doctype html><html><head><title>Airflow - Sign in</title></head><body><div id="root" data-app="simple-auth-manager"></div></body></html>\n');
  }

  /**
   * The Task Execution API (execution_api/security.py `JWTBearer`): a bearer token with
   * `aud = urn:airflow.apache.org:task`; none → 403 "Not authenticated", invalid → 403 "Invalid
   * auth token: …". `JWTReissueMiddleware` sends `Refreshed-API-Token` on any response when the
   * token has less than 20 % of its life left, and the `/run` call always gets one.
   */
  private async executionApi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ')) return detail(req, res, 403, 'Not authenticated');
    const v = await this.execution.validate(auth.slice(7));
    for await (const _ of req); // drain
    if (!v.ok) return v.kind === 'unknown-kid' ? sendHtml(res, 500, 'Internal Server Error') : detail(req, res, 403, `Invalid auth token: ${v.message}`);
    const { exp, iat, sub } = v.claims as { exp: number; iat: number; sub: unknown };
    const headers: Record<string, string> = { 'airflow-api-version': '2025-04-28' };
    if (path.endsWith('/run') || exp - Date.now() / 1000 < (exp - iat) * 0.2) headers['refreshed-api-token'] = await this.workerToken(String(sub));
    if (path.endsWith('/heartbeat') && req.method === 'PUT') return void res.writeHead(204, headers).end();
    return sendJson(res, 200, { ok: true }, headers);
  }
}

/** core_api/security.py `is_safe_url`: a relative URL, or http(s) on the request's own host. */
function safeNext(next: string, req: IncomingMessage): boolean {
  try {
    const base = `http://${req.headers.host ?? 'localhost'}`;
    const u = new URL(next, base);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === new URL(base).host;
  } catch {
    return false;
  }
}
