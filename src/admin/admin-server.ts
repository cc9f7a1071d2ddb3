import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Runtime } from '../server/runtime.js';
import type { AdminState } from '../upstream/server.js';
import { runtimeStatus, serverStatus } from './status.js';

const SERVER_PATH = /^\/backends\/([^/]+)\/servers\/([^/]+)$/;
const STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The admin listener: `GET /healthz` (no token: the gateway's own liveness), `GET /status`,
 * `POST /reload` (re-read the config file; 422 with the errors when it is invalid),
 * and `POST /backends/{backend}/servers/{server}` with `{"state": "ready|drain|maint"}` and/or
 * `{"weight": N}` — HAProxy's `set server state` / `set weight`, over HTTP with a bearer token.
 */
export class AdminServer {
  readonly server: Server;
  private token: Buffer;
  private readonly runtime: () => Runtime;
  private readonly logger: Logger;
  private readonly reload: () => Promise<{ ok: boolean }>;

  constructor(token: string, runtime: () => Runtime, logger: Logger, reload: () => Promise<{ ok: boolean }>) {
    this.token = Buffer.from(`Bearer ${token}`);
    this.runtime = runtime;
    this.logger = logger;
    this.reload = reload;
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
  }

  private authorized(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (!this.authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer realm="airgate-admin"');
      return json(res, 401, { error: 'a valid admin bearer token is required' });
    }
    if (path === '/status' && req.method === 'GET') return json(res, 200, runtimeStatus(this.runtime()));
    if (path === '/reload' && req.method === 'POST') {
      const result = await this.reload();
      return json(res, result.ok ? 200 : 422, result);
    }
    const m = SERVER_PATH.exec(path);
    if (m && (req.method === 'POST' || req.method === 'PUT')) return this.changeServer(req, res, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
    if (m && req.method === 'GET') {
      const b = this.runtime().backends.get(decodeURIComponent(m[1]!));
      const s = b?.server(decodeURIComponent(m[2]!));
      return b && s ? json(res, 200, serverStatus(s, b.clock.now())) : json(res, 404, { error: 'no such server' });
    }
    return json(res, 404, { error: `no admin endpoint ${req.method} ${path}` });
  }

  private async changeServer(req: IncomingMessage, res: ServerResponse, backendName: string, serverName: string): Promise<void> {
    const backend = this.runtime().backends.get(backendName);
    const server = backend?.server(serverName);
    if (!backend || !server) return json(res, 404, { error: `no server ${backendName}/${serverName}` });
    let body: { state?: unknown; weight?: unknown };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as typeof body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('not an object');
    } catch {
      return json(res, 400, { error: 'expected a JSON body such as {"state":"drain"} or {"weight":2}' });
    }
    if (body.state !== undefined && !STATES.includes(body.state as AdminState)) return json(res, 400, { error: `state must be one of ${STATES.join(', ')}` });
    if (body.weight !== undefined && !(Number.isInteger(body.weight) && (body.weight as number) >= 0 && (body.weight as number) <= 1000)) return json(res, 400, { error: 'weight must be an integer from 0 to 1000' });
    if (body.state === undefined && body.weight === undefined) return json(res, 400, { error: 'give state and/or weight' });
    const now = backend.clock.now();
    if (body.state !== undefined && body.state !== server.admin) {
      const from = server.admin;
      server.admin = body.state as AdminState;
      if (server.admin === 'drain') server.drainUntil = now + backend.config.drain_grace;
      if (server.admin === 'ready') server.returnedAt = now;
      this.logger.info({ server: server.id, from, to: server.admin, by: 'admin api', drainGraceMs: server.admin === 'drain' ? backend.config.drain_grace : undefined }, `server ${server.id} set to ${server.admin}`);
    }
    if (body.weight !== undefined && body.weight !== server.weight) {
      this.logger.info({ server: server.id, from: server.weight, to: body.weight, by: 'admin api' }, `server ${server.id} weight set to ${String(body.weight)}`);
      server.weight = body.weight as number;
    }
    json(res, 200, serverStatus(server, now));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
