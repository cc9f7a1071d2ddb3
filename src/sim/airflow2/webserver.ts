import type { IncomingMessage, ServerResponse } from 'node:http';
import { healthBody } from '../health.js';
import { readBody, sendHtml, sendJson } from '../http-util.js';
import type { LineStreamer } from '../sim-endpoints.js';
import type { AirflowState } from '../state.js';
import type { HealthFaults } from '../health.js';
import { apiV1, type ApiAuthBackend } from './api.js';
import { AirgateVerifier, type AirgateSettings, type RequestIdentity } from './assertion.js';
import { errorPage, followAssertion } from './follow.js';
import { csrfProblem, login, LoginRateLimit, type LoginMode } from './login.js';
import { FabSession } from './session.js';
import { uiRequest } from './views.js';

export type { ApiAuthBackend } from './api.js';
export type { AirgateSettings } from './assertion.js';

/** How the simulated Airflow 2 webserver is configured (webserver_config.py and airflow.cfg). */
export interface Airflow2Options {
  /** `[api] auth_backends`, tried in order. Default: session, then basic_auth. */
  apiAuthBackends?: readonly ApiAuthBackend[];
  /** The AIRGATE_* settings webserver_config.py and airgate_api_auth.py read; needed by `webserverConfig` and the `airgate` backend. */
  airgate?: AirgateSettings;
  /** airflow/webserver_config.py installed: AUTH_REMOTE_USER from X-Auth-User, and the session follows the assertion on every request. */
  webserverConfig?: boolean;
  /** AUTH_USER_REGISTRATION_ROLE for users FAB's remote-user login creates; unset: AUTH_USER_REGISTRATION = False. */
  registrationRole?: string;
  /** FAB's login rate limit (`[webserver] auth_rate_limit`, default 5 per 40 s per address); false: auth_rate_limited = False. */
  authRateLimit?: { count: number; windowMs: number } | false;
}

export interface WebserverHost {
  readonly name: string;
  readonly state: AirflowState;
  readonly streamer: LineStreamer;
  readonly secretKey: string;
  readonly faults: HealthFaults;
}

/**
 * The simulated Airflow 2 webserver (Flask + FAB 4.5): health, `/api/v1` behind its auth
 * backends, FAB's login and logout, role-checked UI pages and actions, with Flask's signed
 * `session` cookie. See docs/airflow.md "The simulated Airflow" for the list of behaviours.
 */
export class Airflow2Webserver {
  private readonly host: WebserverHost;
  private readonly backends: readonly ApiAuthBackend[];
  private readonly verifier: AirgateVerifier | undefined;
  /** The session-follow mode of airflow/webserver_config.py: the verifier of airgate's assertion, or undefined when off. */
  private readonly follow: AirgateVerifier | undefined;
  private readonly mode: LoginMode;
  private readonly limiter: LoginRateLimit | undefined;

  constructor(host: WebserverHost, opts: Airflow2Options, remoteUserHeader: string | undefined) {
    this.host = host;
    this.backends = opts.apiAuthBackends ?? ['session', 'basic_auth'];
    const follow = opts.webserverConfig === true;
    const header = (remoteUserHeader ?? (follow ? 'X-Auth-User' : undefined))?.toLowerCase();
    if ((follow || this.backends.includes('airgate')) && !opts.airgate) throw new Error('SimulatedAirflow: webserverConfig and the airgate API backend need airflow2.airgate.jwksUrl (AIRGATE_JWKS_URL)');
    this.verifier = opts.airgate ? new AirgateVerifier(opts.airgate, header ?? 'x-auth-user') : undefined;
    this.follow = follow ? this.verifier : undefined;
    this.mode = { remoteUserHeader: header, registrationRole: opts.registrationRole };
    const limit = opts.authRateLimit ?? { count: 5, windowMs: 40_000 };
    this.limiter = limit === false ? undefined : new LoginRateLimit(limit.count, limit.windowMs);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const { state, streamer } = this.host;
    // airflow/www/views.py HealthView and airflow/api_connexion/endpoints/health_endpoint.py: no auth, no session (SessionExemptMixin).
    if (path === '/health' || path === '/api/v1/health') return sendJson(res, 200, healthBody(this.host.faults, new Date()));
    if (path.startsWith('/static/')) {
      res.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'public, max-age=31536000' });
      return void res.end('body{font-family:sans-serif}\n');
    }
    const secretKey = this.host.secretKey;
    const session = new FabSession(req, secretKey);
    let identity: Promise<RequestIdentity> | undefined;
    const verifier = this.verifier;
    const identify = verifier ? () => (identity ??= verifier.identify(req)) : undefined;
    if (this.follow && identify) {
      const refused = followAssertion(session, await identify(), path, state, this.follow.userClaim);
      if (refused) {
        const rid = req.headers['x-request-id'];
        return sendHtml(res, refused.status, errorPage(refused, typeof rid === 'string' ? rid : undefined), { 'cache-control': 'no-store', ...session.setCookie(secretKey) });
      }
    }
    if (path.startsWith('/api/v1/')) {
      // Sessions are never saved for /api/v1 (airflow/www/app.py, SessionExemptMixin).
      return apiV1(req, res, path, this.backends, { state, streamer, sessionUser: session.user, identity: identify, userClaim: this.verifier?.userClaim ?? 'sub' });
    }
    const reply = (status: number, headers: Record<string, string> = {}, html?: string, text?: string) => {
      const all = { ...headers, ...session.setCookie(secretKey) };
      if (html !== undefined) return sendHtml(res, status, html, all);
      if (text !== undefined) return void res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(text), ...all }).end(text);
      res.writeHead(status, all).end();
    };
    if (path === '/login/' || path === '/login') {
      if (req.method === 'POST' && this.limiter?.exceeded(clientAddress(req), Date.now())) {
        return sendHtml(res, 429, `<!doctype html>\n<html lang=en>\n<title>429 Too Many Requests</title>\n<h1>Too Many Requests</h1>\n<p>${this.limiter.count} per ${this.limiter.windowMs / 1000} second</p>\n`);
      }
      return login({ req, url, session, state, mode: this.mode, reply });
    }
    if (path === '/logout/' || path === '/logout') return this.logout(req, session, reply);
    // Airflow.get_logs_with_metadata (airflow/www/views.py): the log page polls format=json; format=file streams text.
    if (path === '/get_logs_with_metadata' && session.user !== undefined) {
      if (url.searchParams.get('format') === 'file') return streamer.serve(res, { lines: 5, contentType: 'text/plain', gated: false, intervalMs: 50, render: (i) => `log line ${i}\n` });
      return sendJson(res, 200, { message: [[['localhost', 'log line 1\nlog line 2\n']]], error: false, metadata: { end_of_log: true, log_pos: 2 } });
    }
    const a = await uiRequest(req, url, session, state, this.host.name);
    reply(a.status, a.headers, a.html, a.text);
  }

  /** `POST /logout/` (Airflow 2.10: POST only, CSRF-protected): logout_user, then the login page. */
  private async logout(req: IncomingMessage, session: FabSession, reply: (s: number, h?: Record<string, string>, html?: string) => void): Promise<void> {
    if (req.method !== 'POST') return reply(405, {}, '<!doctype html><title>405 Method Not Allowed</title><h1>Method Not Allowed</h1>\n');
    const body = new URLSearchParams((await readBody(req)).toString());
    const problem = csrfProblem(req, session, body);
    if (problem) return reply(400, {}, `<!doctype html>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>${problem}</p>\n`);
    session.clear();
    reply(302, { location: '/login/' });
  }
}

/** flask-limiter's get_remote_address behind ProxyFix (enable_proxy_fix, x_for = 1): the last X-Forwarded-For hop. */
function clientAddress(req: IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  const last = typeof xff === 'string' ? xff.split(',').at(-1)?.trim() : undefined;
  return last || req.socket.remoteAddress || '';
}
