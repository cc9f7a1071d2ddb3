import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { readJson, sendHtml, sendJson } from './http-util.js';
import { Airflow3Api, type Airflow3Options } from './airflow3/api-server.js';
import { echo, LineStreamer, trailers } from './sim-endpoints.js';
import { AirflowState } from './state.js';
import { Airflow2Webserver, type Airflow2Options } from './airflow2/webserver.js';
import { acceptWebSocketEcho } from './websocket-echo.js';
import { mergeFaults, NO_FAULTS, type Faults } from './faults.js';

export interface SimOptions {
  name: string;
  airflow?: 2 | 3;
  /** `[webserver] secret_key`; every node of a healthy cluster shares it. */
  secretKey?: string;
  /** `[api_auth] jwt_secret` (Airflow 3). */
  jwtSecret?: string;
  /** Airflow 2: FAB's AUTH_REMOTE_USER with this header as AUTH_REMOTE_USER_ENV_VAR (read only at `GET /login/`); undefined: AUTH_DB. */
  remoteUserHeader?: string;
  /** Airflow 2: auth backends, airgate's webserver_config.py, FAB registration and rate limit (src/sim/airflow2/webserver.ts). */
  airflow2?: Airflow2Options;
  state?: AirflowState;
  host?: string;
  port?: number;
  /** Airflow 3 token settings (trusted JWKS, own key, audience, issuer, login URL): see src/sim/airflow3/api-server.ts. */
  airflow3?: Partial<Omit<Airflow3Options, 'jwtSecret'>>;
  /** Serve HTTPS with this PEM certificate and key (optionally requiring a client certificate signed by `ca`). */
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean };
}

/**
 * A simulated Airflow webserver (2.x) or api-server (3.x) that follows shared/airflow-facts.md:
 * health JSON that is always 200; on Airflow 2 the webserver of src/sim/airflow2/ (REST API
 * behind its auth backends, FAB login and roles, a signed `session` cookie, optionally airgate's
 * webserver_config.py); streamed logs, upload and header echo, a WebSocket echo, and fault
 * switches a test can flip at run time.
 */
export class SimulatedAirflow {
  readonly name: string;
  readonly airflow: 2 | 3;
  secretKey: string;
  readonly jwtSecret: string;
  readonly remoteUserHeader: string | undefined;
  readonly state: AirflowState;
  readonly streamer = new LineStreamer();
  faults: Faults = { ...NO_FAULTS };
  /** Requests received (health checks apart), for tests that check where traffic went. */
  requests = 0;
  /** Health-check requests received. */
  healthRequests = 0;
  private readonly server: Server;
  private readonly hung = new Set<ServerResponse>();
  /** The hung requests that are not health checks. */
  private readonly hungUser = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly opts: SimOptions;
  private readonly webserver2: Airflow2Webserver | undefined;
  /** The Airflow 3 api-server's behaviour (airflow: 3). */
  readonly v3: Airflow3Api;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.airflow = opts.airflow ?? 2;
    this.secretKey = opts.secretKey ?? 'shared-secret-key';
    this.jwtSecret = opts.jwtSecret ?? 'shared-jwt-secret';
    this.remoteUserHeader = opts.remoteUserHeader?.toLowerCase();
    this.state = opts.state ?? new AirflowState();
    this.webserver2 = this.airflow === 2 ? new Airflow2Webserver(this, opts.airflow2 ?? {}, opts.remoteUserHeader) : undefined;
    this.v3 = new Airflow3Api(this, { jwtSecret: this.jwtSecret, ...opts.airflow3 });
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res).catch((err: Error) => this.fail(res, err));
    this.server = opts.tls
      ? createHttpsServer({ keepAliveTimeout: 120_000, cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.tls.requestCert ?? false, rejectUnauthorized: opts.tls.requestCert ?? false }, handler)
      : createServer({ keepAliveTimeout: 120_000 }, handler);
    this.server.on(opts.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.requests++;
      if (new URL(req.url ?? '/', 'http://x').pathname === '/_sim/ws') acceptWebSocketEcho(req, socket, head, this.name);
      else socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** The address it listens on (`host`, default 127.0.0.1; the whole 127/8 is loopback on Linux, so tests run several nodes on one port). */
  get url(): string {
    const host = this.opts.host && this.opts.host !== '0.0.0.0' && this.opts.host !== '::' ? this.opts.host : '127.0.0.1';
    return `${this.opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    return this;
  }

  /** Stop listening and drop every connection, hung requests included. */
  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** User requests (not health checks) currently held by the `hang` fault. */
  get hungRequests(): number {
    return this.hungUser.size;
  }

  setFaults(update: Partial<Faults>): void {
    this.faults = mergeFaults(this.faults, update);
    if (!this.faults.hang) {
      for (const res of this.hung) res.destroy();
      this.hung.clear();
    }
  }

  private fail(res: ServerResponse, err: Error): void {
    if (!res.headersSent) sendJson(res, 500, { error: err.message });
    else res.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-sim-node', this.name);
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    if (req.headers['user-agent'] === 'airgate-health') this.healthRequests++;
    else this.requests++;
    if (path === '/_sim/faults') {
      if (req.method === 'POST') this.setFaults((await readJson(req)) as Partial<Faults>);
      return sendJson(res, 200, { node: this.name, faults: this.faults });
    }
    const f = this.faults;
    if (f.reset) return void req.socket.destroy();
    if (f.hang) {
      this.hung.add(res);
      if (req.headers['user-agent'] !== 'airgate-health') this.hungUser.add(res);
      res.once('close', () => {
        this.hung.delete(res);
        this.hungUser.delete(res);
      });
      return;
    }
    if (f.slowMs > 0) await new Promise((r) => setTimeout(r, f.slowMs));
    if (f.error500) return sendHtml(res, 500, '<!doctype html><h1>Internal Server Error</h1>\n');
    if (f.unavailable) {
      for await (const _ of req); // read the body, as a real server would before answering
      return sendHtml(res, 503, '<!doctype html><h1>Service Unavailable</h1>\n');
    }
    if (path.startsWith('/_sim/')) return this.simEndpoint(req, res, url);
    return this.webserver2 ? this.webserver2.handle(req, res, url) : this.airflow3(req, res, url);
  }

  private async simEndpoint(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    switch (url.pathname) {
      case '/_sim/echo':
      case '/_sim/upload':
        return echo(req, res, this.name);
      case '/_sim/trailers':
        return trailers(res);
      case '/_sim/stream': {
        const type = url.searchParams.get('type') ?? 'text/plain';
        const lines = Number(url.searchParams.get('lines') ?? 3);
        return this.streamer.serve(res, {
          lines,
          contentType: type,
          gated: url.searchParams.has('gate'),
          intervalMs: Number(url.searchParams.get('interval') ?? 100),
          render: (i) => (type.includes('ndjson') ? `${JSON.stringify({ content: `line ${i}` })}\n` : `line ${i}\n`),
        });
      }
      case '/_sim/status': {
        const status = Number(url.searchParams.get('code') ?? 200);
        return sendJson(res, status, { node: this.name, status });
      }
      default:
        return sendJson(res, 404, { error: 'unknown sim endpoint' });
    }
  }

  private async airflow3(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    return this.v3.handle(req, res, url);
  }
}
