import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readBoundedBody } from '../core/body.js';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Runtime } from '../server/runtime.js';
import type { AdminState } from '../upstream/server.js';
import { runtimeStatus, serverStatus } from './status.js';
import type { Observer } from '../observability/observer.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import { createHash } from 'node:crypto';
import { loginPage, operatorName, readLoginForm } from './dashboard-login.js';
import type { OperatorAction } from '../observability/audit.js';

/** Who made an admin call: how they proved it, and the name they gave. */
type Caller = { auth: 'admin-token' | 'admin-cookie'; user: string | null; client: string | null };

/** What the admin API reads and drives. */
export interface AdminHost {
  readonly runtime: Runtime;
  readonly observer: Observer;
  reload(): Promise<{ ok: boolean }>;
  /** Workers of `workers: N`: reload every worker (the primary orders it). */
  readonly machineReload?: (() => Promise<{ ok: boolean }>) | undefined;
  /** Workers of `workers: N`: the metrics and the status of every worker, added up. */
  readonly machineMetrics?: (() => Promise<string>) | undefined;
  readonly machineStatus?: (() => Promise<object>) | undefined;
  /** Workers relay operator changes to their siblings. */
  readonly onAdminChange?: ((c: { backend: string; server: string; state?: AdminState; weight?: number }) => void) | undefined;
}

/** The dashboard cookie holds a hash of the token, never the token itself. */
function cookieTokenOf(token: string): string {
  return createHash('sha256').update(`airgate-dashboard:${token}`).digest('base64url');
}

const SERVER_PATH = /^\/backends\/([^/]+)\/servers\/([^/]+)$/;
const STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The admin listener: `GET /healthz` (no token: the gateway's own liveness), `GET /dashboard`
 * (a sign-in form until the browser holds the dashboard cookie), `GET /status`, `GET /metrics`,
 * `POST /reload` (re-read the config file; 422 with the errors when it is invalid),
 * and `POST /backends/{backend}/servers/{server}` with `{"state": "ready|drain|maint"}` and/or
 * `{"weight": N}` — HAProxy's `set server state` / `set weight`, over HTTP with a bearer token.
 */
/** Admin API bodies are a few bytes of JSON: anything larger, or stalling, is refused. */
const ADMIN_BODY_LIMITS = { maxBytes: 65_536, idleMs: 10_000 };

export class AdminServer {
  readonly server: Server;
  private token: Buffer;
  private cookieToken: string;
  private readonly host: AdminHost;
  private readonly logger: Logger;

  constructor(token: string, host: AdminHost, logger: Logger) {
    this.token = Buffer.from(`Bearer ${token}`);
    this.cookieToken = cookieTokenOf(token);
    this.host = host;
    this.logger = logger;
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: Error) => json(res, 500, { error: err.message })));
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** A reload may change the token. */
  setToken(token: string): void {
    this.token = Buffer.from(`Bearer ${token}`);
    this.cookieToken = cookieTokenOf(token);
  }

  private runtime(): Runtime {
    return this.host.runtime;
  }

  /**
   * A bearer token, or (for the dashboard in a browser) the session cookie set by the sign-in
   * form; cookie-authenticated writes must carry the dashboard's header. The caller's name comes
   * from the X-Airgate-Operator header (bearer) or the name given at sign-in (cookie).
   */
  private caller(req: IncomingMessage): Caller | undefined {
    const client = req.socket.remoteAddress ?? null;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length === this.token.length && timingSafeEqual(given, this.token)) return { auth: 'admin-token', user: operatorName(String(req.headers['x-airgate-operator'] ?? '')) ?? null, client };
    const cookie = /(?:^|;\s*)airgate_admin=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!cookie || cookie.length !== this.cookieToken.length || !timingSafeEqual(Buffer.from(cookie), Buffer.from(this.cookieToken))) return undefined;
    if (req.method !== 'GET' && req.headers['x-airgate-dashboard'] !== '1') return undefined;
    const name = /(?:^|;\s*)airgate_operator=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    return { auth: 'admin-cookie', user: operatorName(name ? safeDecode(name) : undefined) ?? null, client };
  }

  private tokenMatches(token: string): boolean {
    const ok = Buffer.from(`Bearer ${token}`);
    return ok.length === this.token.length && timingSafeEqual(ok, this.token);
  }

  private audit(caller: Caller, a: Omit<OperatorAction, 'user' | 'auth' | 'client'>): void {
    this.host.observer.operatorAction({ ...a, user: caller.user, auth: caller.auth, client: caller.client });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] || '/';
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/dashboard/login' && req.method === 'POST') {
      const form = await readLoginForm(req);
      if (!form || !this.tokenMatches(form.token)) return loginPage(res, 401, 'That is not the admin token.');
      const cookies = [`airgate_admin=${this.cookieToken}; Path=/; HttpOnly; SameSite=Strict`];
      if (form.user) cookies.push(`airgate_operator=${encodeURIComponent(form.user)}; Path=/; HttpOnly; SameSite=Strict`);
      res.writeHead(303, { location: '/dashboard', 'set-cookie': cookies, 'cache-control': 'no-store' }).end();
      return;
    }
    if (path === '/dashboard' && req.method === 'GET') {
      if (!this.caller(req)) return loginPage(res, 401);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'" });
      return void res.end(DASHBOARD_HTML);
    }
    const caller = this.caller(req);
    if (!caller) {
      res.setHeader('www-authenticate', 'Bearer realm="airgate-admin"');
      return json(res, 401, { error: 'a valid admin bearer token is required' });
    }
    if (path === '/status' && req.method === 'GET') return json(res, 200, this.host.machineStatus ? await this.host.machineStatus() : runtimeStatus(this.runtime(), this.host.observer));
    if (path === '/metrics' && req.method === 'GET') {
      const text = this.host.machineMetrics ? await this.host.machineMetrics() : await this.host.observer.metrics.text();
      res.writeHead(200, { 'content-type': this.host.observer.metrics.contentType, 'cache-control': 'no-store' });
      return void res.end(text);
    }
    if (path === '/reload' && req.method === 'POST') {
      const result = await (this.host.machineReload ?? (() => this.host.reload()))();
      this.audit(caller, { action: 'config.reload', success: result.ok, ...('errors' in result ? { errors: result.errors as string[] } : {}) });
      return json(res, result.ok ? 200 : 422, result);
    }
    const m = SERVER_PATH.exec(path);
    if (m && (req.method === 'POST' || req.method === 'PUT')) return this.changeServer(req, res, caller, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
    if (m && req.method === 'GET') {
      const b = this.runtime().backends.get(decodeURIComponent(m[1]!));
      const s = b?.server(decodeURIComponent(m[2]!));
      return b && s ? json(res, 200, serverStatus(s, b.clock.now(), null, this.host.observer.metrics.answeredBy(b.name, s.name))) : json(res, 404, { error: 'no such server' });
    }
    return json(res, 404, { error: `no admin endpoint ${req.method} ${path}` });
  }

  private async changeServer(req: IncomingMessage, res: ServerResponse, caller: Caller, backendName: string, serverName: string): Promise<void> {
    const backend = this.runtime().backends.get(backendName);
    const server = backend?.server(serverName);
    if (!backend || !server) return json(res, 404, { error: `no server ${backendName}/${serverName}` });
    let body: { state?: unknown; weight?: unknown };
    let raw: Buffer;
    try {
      raw = await readBoundedBody(req, ADMIN_BODY_LIMITS);
    } catch {
      res.shouldKeepAlive = false;
      return json(res, 413, { error: `the body must be JSON of at most ${ADMIN_BODY_LIMITS.maxBytes} bytes, sent without pauses` });
    }
    try {
      body = JSON.parse(raw.toString() || '{}') as typeof body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('not an object');
    } catch {
      return json(res, 400, { error: 'expected a JSON body such as {"state":"drain"} or {"weight":2}' });
    }
    if (body.state !== undefined && !STATES.includes(body.state as AdminState)) return json(res, 400, { error: `state must be one of ${STATES.join(', ')}` });
    if (body.weight !== undefined && !(Number.isInteger(body.weight) && (body.weight as number) >= 0 && (body.weight as number) <= 1000)) return json(res, 400, { error: 'weight must be an integer from 0 to 1000' });
    if (body.state === undefined && body.weight === undefined) return json(res, 400, { error: 'give state and/or weight' });
    const now = backend.clock.now();
    const from = server.admin;
    if (body.state !== undefined && server.setAdmin(body.state as AdminState, now, backend.config.drain_grace)) {
      this.logger.info({ server: server.id, from, to: server.admin, by: 'admin api', user: caller.user, drainGraceMs: server.admin === 'drain' ? backend.config.drain_grace : undefined }, `server ${server.id} set to ${server.admin}`);
      this.host.observer.events.push('admin', `${server.id} set to ${server.admin} (was ${from})${caller.user ? ` by ${caller.user}` : ''}`);
      this.audit(caller, { action: `server.${server.admin}`, backend: backendName, server: serverName, from, to: server.admin, success: true });
    }
    if (body.weight !== undefined && body.weight !== server.weight) {
      this.logger.info({ server: server.id, from: server.weight, to: body.weight, by: 'admin api', user: caller.user }, `server ${server.id} weight set to ${String(body.weight)}`);
      this.host.observer.events.push('admin', `${server.id} weight ${server.weight} → ${String(body.weight)}${caller.user ? ` by ${caller.user}` : ''}`);
      this.audit(caller, { action: 'server.weight', backend: backendName, server: serverName, from: server.weight, to: body.weight as number, success: true });
      server.setWeight(body.weight as number);
    }
    this.host.onAdminChange?.({ backend: backendName, server: serverName, ...(body.state !== undefined ? { state: body.state as AdminState } : {}), ...(body.weight !== undefined ? { weight: body.weight as number } : {}) });
    json(res, 200, serverStatus(server, now, null, this.host.observer.metrics.answeredBy(backendName, serverName)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
