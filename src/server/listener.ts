import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/schema.js';
import type { ErrorCode } from '../core/errors.js';
import { requestIdFor } from '../proxy/request-id.js';
import { rawErrorResponse, sendError, wantsHtml, type ErrorExtras } from '../proxy/error-response.js';
import { forward } from '../proxy/forward.js';
import { tunnel } from '../proxy/tunnel.js';
import { FULL } from '../upstream/backend.js';
import type { ForwardFacts } from '../proxy/headers.js';
import { absoluteFormHost, clientAddress, hostAndRequestId, originForm } from './request-facts.js';
import type { Runtime } from './runtime.js';
import type { Logger } from '../observability/logger.js';
import { buildServer, type NodeServer } from './node-server.js';
import type { CertificateStore } from './tls/certificate-store.js';
import { readProxyHeader } from './proxy-protocol.js';
import { acmeChallenges } from './tls/acme-challenges.js';
import { rawHeader } from '../proxy/request-keys.js';
import { RequestRecord, terminationOf } from '../observability/request-record.js';
import type { Observer } from '../observability/observer.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { CompiledRoute } from './router.js';
import type { Identity } from '../auth/identity.js';
import { dagIdOf, normalizePath } from '../policy/normalize.js';
import type { LimitVerdict } from '../policy/limits.js';

/** Airflow's password form (Airflow 2 FAB `/login/`) and token endpoint (Airflow 3 `/auth/token`). */
const LOGIN_PATH = /^\/(?:login\/?|auth\/token\/?)$/i;

function hostOnlyLower(host: string): string {
  return host.replace(/:\d+$/, '').toLowerCase();
}

/** What a listener needs from the gateway that owns it. */
export interface ListenerHost {
  readonly runtime: Runtime;
  readonly draining: boolean;
  readonly logger: Logger;
  readonly observer: Observer;
  requestStarted(): void;
  requestEnded(listener: Listener): void;
}

const kPeer = Symbol('airgate.peer');
/** `_parent`: the TCP socket a server-side TLS socket wraps (where the PROXY header's source is kept). */
type PeerSocket = Socket & { [kPeer]?: string; _parent?: PeerSocket };

/** The PROXY header's source for a connection, also when TLS (or HTTP/2 over TLS) runs on top of it. */
function proxiedSource(socket: Socket): string | undefined {
  const s = socket as PeerSocket;
  return s[kPeer] ?? s._parent?.[kPeer];
}

const kListener = Symbol('airgate.listener');
const kRecord = Symbol('airgate.record');
type TaggedResponse = ServerResponse & { [kListener]?: Listener; [kRecord]?: RequestRecord };

function onResponseClose(this: TaggedResponse): void {
  this[kListener]!.ended(this[kRecord]!, this);
}

const CLIENT_ERRORS: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'AIRGATE_ERR_CLIENT_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'AIRGATE_ERR_HEADERS_TOO_LARGE',
};

/**
 * One listening socket and its request entry points: plain HTTP, HTTPS (certificates by SNI) or
 * HTTP/2 with HTTP/1.1 on the same port; optionally behind the PROXY protocol, or answering
 * every request with a redirect to HTTPS.
 */
export class Listener {
  config: ListenerConfig;
  readonly server: NodeServer;
  readonly certs: CertificateStore | undefined;
  private readonly sessions: Set<import('node:http2').ServerHttp2Session>;
  private readonly tlsSockets: Set<Socket>;
  /** With `proxy_protocol`: the socket that accepts, reads the PROXY header, then hands over. */
  private readonly acceptor: NetServer | undefined;
  private readonly host: ListenerHost;
  private portText = '';
  private proto: 'http' | 'https';
  private hsts: string | undefined;

  constructor(config: ListenerConfig, host: ListenerHost) {
    this.config = config;
    this.host = host;
    const built = buildServer(config, host.logger);
    this.server = built.server;
    this.certs = built.certs;
    this.sessions = built.sessions;
    this.tlsSockets = built.sockets;
    this.proto = config.tls ? 'https' : 'http';
    this.hsts = hstsValue(config);
    this.server.on('request', config.redirect_to_https ? this.onRedirect.bind(this) : this.onRequest.bind(this));
    this.server.on('upgrade', this.onUpgrade.bind(this));
    this.server.on('clientError', this.onClientError.bind(this));
    this.acceptor = config.proxy_protocol ? createNetServer({ pauseOnConnect: false }, (s) => void this.acceptProxied(s)) : undefined;
    if (config.max_connections > 0) (this.acceptor ?? this.server).maxConnections = config.max_connections;
    if (config.max_connections_per_ip > 0) this.server.on('connection', (s: Socket) => this.limitPerIp(s));
  }

  private readonly perIp = new Map<string, number>();

  /** `max_connections_per_ip`: a client holding that many connections has its next one closed. */
  private limitPerIp(socket: Socket): void {
    const ip = proxiedSource(socket) ?? unmap(socket.remoteAddress ?? '');
    const n = (this.perIp.get(ip) ?? 0) + 1;
    if (n > this.config.max_connections_per_ip) {
      this.host.logger.warn({ listener: this.config.name, client: ip, limit: this.config.max_connections_per_ip }, 'connection refused: too many connections from this address');
      socket.destroy();
      return;
    }
    this.perIp.set(ip, n);
    socket.once('close', () => {
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }

  /** PROXY protocol: only trusted peers may send the header; the address it names becomes the peer. */
  private async acceptProxied(socket: Socket): Promise<void> {
    const peer = unmap(socket.remoteAddress ?? '');
    if (!this.host.runtime.trusted.trusts(peer)) {
      this.host.logger.warn({ listener: this.config.name, peer }, 'PROXY protocol connection from an untrusted address refused');
      socket.destroy();
      return;
    }
    try {
      const source = await readProxyHeader(socket, this.config.timeouts.client_header);
      (socket as PeerSocket)[kPeer] = source ?? peer;
      this.server.emit('connection', socket);
      socket.resume();
    } catch (err) {
      this.host.logger.warn({ listener: this.config.name, peer, reason: (err as Error).message }, 'bad PROXY protocol header');
      socket.destroy();
    }
  }

  /** Whether a reload can keep this listener's socket for `next` (same name and address). */
  sameSocket(next: ListenerConfig): boolean {
    return next.name === this.config.name && next.address.host === this.config.address.host && next.address.port === this.config.address.port;
  }

  /** Apply a reloaded listener config that keeps the socket: timeouts and limits change in place. */
  update(next: ListenerConfig): void {
    this.config = next;
    Object.assign(this.server, { headersTimeout: next.timeouts.client_header, keepAliveTimeout: next.timeouts.keep_alive });
    this.hsts = hstsValue(next);
    if (next.tls && this.certs) this.certs.reload(next.tls);
  }

  /** The bound port (the real one when the configured port is 0). */
  get port(): number {
    const a = (this.acceptor ?? this.server).address();
    return a && typeof a === 'object' ? a.port : this.config.address.port;
  }

  listen(): Promise<void> {
    const { host, port } = this.config.address;
    const socket = this.acceptor ?? this.server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      socket.listen({ host, port, backlog: 1024 }, () => {
        socket.off('error', onError);
        this.portText = String(this.port);
        resolve();
      });
    });
  }

  /**
   * The facts forwarded upstream. The client is the peer (the PROXY header's source when there
   * is one) unless the peer is a trusted proxy, whose X-Forwarded-For is then believed.
   */
  private facts(req: IncomingMessage, requestId: string, upstreamHost: string | undefined, upgrading: boolean): ForwardFacts {
    const peer = proxiedSource(req.socket) ?? clientAddress(req);
    const trusted = this.host.runtime.trusted;
    const trustXff = trusted.trusts(peer);
    let client = peer;
    if (trustXff) {
      const xff = rawHeader(req, 'x-forwarded-for');
      if (xff) client = trusted.clientFrom(xff, peer);
    }
    const rt = this.host.runtime;
    return { requestId, clientAddress: client, peer, trustXff, proto: this.proto, port: this.portText, upstreamHost, upgrading, hsts: this.hsts, http2: req.httpVersionMajor === 2, strip: rt.identityHeaders, ownCookies: rt.ownCookies, identity: undefined, setCookie: undefined };
  }

  /** `redirect_to_https`: every request goes to the same host and path on the HTTPS port. */
  private onRedirect(req: IncomingMessage, res: ServerResponse): void {
    if (acmeChallenges.respond(req, res)) return;
    const { host, requestId: clientId } = hostAndRequestId(req);
    const hostname = (host ?? '').replace(/:\d+$/, '');
    if (!hostname || /[^A-Za-z0-9.\-[\]:]/.test(hostname)) {
      res.writeHead(400, { 'content-type': 'text/plain', 'x-request-id': requestIdFor(clientId) }).end('A Host header is required.\n');
      return;
    }
    const port = this.config.redirect_to_https === 443 ? '' : `:${this.config.redirect_to_https}`;
    const safe = req.method === 'GET' || req.method === 'HEAD';
    res.writeHead(safe ? 301 : 308, { location: `https://${hostname}${port}${originForm(req.url!) ?? '/'}`, 'content-length': 0, 'x-request-id': requestIdFor(clientId) });
    res.end();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (acmeChallenges.respond(req, res)) return;
    const gw = this.host;
    const start = performance.now();
    gw.requestStarted();
    if (gw.draining) res.shouldKeepAlive = false;
    const rt = gw.runtime;
    const found = hostAndRequestId(req);
    const requestId = requestIdFor(found.requestId);
    const raw = originForm(req.url!);
    const host = raw === req.url ? found.host : absoluteFormHost(req.url!);
    const facts = this.facts(req, requestId, raw === req.url ? undefined : host, false);
    const record = new RequestRecord(start, requestId, req.method ?? '', raw ?? req.url ?? '', facts.clientAddress, this.config.name);
    if (raw === undefined || (host === undefined && req.httpVersionMinor === 1)) {
      res.shouldKeepAlive = false;
      return this.answerError(req, res, record, 'AIRGATE_ERR_BAD_REQUEST', { detail: raw === undefined ? 'The request target must be a path.' : 'HTTP/1.1 requests need a Host header.' });
    }
    // What policy judges is what Airflow serves: the normalized path is the one forwarded.
    const norm = normalizePath(raw);
    if (!norm.ok) return this.answerError(req, res, record, 'AIRGATE_ERR_BAD_REQUEST', { detail: `The path cannot be judged safely: ${norm.reason}.` });
    const target = norm.path + norm.query;
    if (target.startsWith('/_airgate/')) return this.gatewayEndpoint(req, res, target, record);
    const route = rt.router.match(host, target);
    if (!route) return this.answerError(req, res, record, 'AIRGATE_ERR_NO_ROUTE');
    record.route = route.name;
    record.backend = route.backend.name;
    // Public paths matter only on routes that authenticate or judge; plain routes skip the check.
    const isPublic = (route.auth === 'sso' || route.auth === 'bearer' || route.policy) && rt.isPublic(norm.path);
    if (!isPublic && (route.auth === 'sso' || route.auth === 'bearer')) return void this.authenticated(req, res, target, route, facts, record, norm.path, host ?? '');
    this.admit(req, res, target, route, facts, record, norm.path, host ?? '', undefined, isPublic);
  }

  /**
   * The checks between identity and upstream: policy (protected routes), login lockouts and rate
   * limits — all before the request takes an upstream slot.
   */
  private admit(req: IncomingMessage, res: ServerResponse, target: string, route: CompiledRoute, facts: ForwardFacts, record: RequestRecord, path: string, host: string, identity: Identity | undefined, isPublic: boolean): void {
    const rt = this.host.runtime;
    const method = req.method ?? 'GET';
    if (route.policy && !isPublic) {
      const q = target.indexOf('?');
      const d = rt.policy.decide({ host: hostOnlyLower(host), path, method, dag: dagIdOf(path, q < 0 ? '' : target.slice(q)), user: identity?.user, email: identity?.email, groups: identity?.groups ?? [], role: identity?.role, auth: identity?.method ?? 'none', source: facts.clientAddress });
      record.policy = d.allow ? 'allow' : 'deny';
      record.rule = d.rule;
      if (!d.allow) {
        this.host.logger.info({ requestId: record.id, user: identity?.user, client: facts.clientAddress, method, path, rule: d.rule, reason: d.reason }, 'request denied by policy');
        return this.answerError(req, res, record, 'AIRGATE_ERR_FORBIDDEN', { detail: d.reason });
      }
    }
    const now = Date.now();
    const isLogin = method === 'POST' && LOGIN_PATH.test(path);
    if (isLogin) {
      const left = rt.loginGuard.lockedFor([`ip:${facts.clientAddress}`], now);
      if (left > 0) return this.answerError(req, res, record, 'AIRGATE_ERR_LOGIN_LOCKED', { retryAfterSeconds: Math.ceil(left / 1000) });
      record.loginAttempt = true;
      facts.loginGuard = rt.loginGuard;
    }
    if (!rt.limits.empty) {
      const subject = { req, route: route.name, host, path, method, client: facts.clientAddress, user: identity?.user, session: identity?.sid };
      if (rt.limits.shared) {
        void rt.limits.checkShared(subject, now).then((v) => (v ? this.limited(req, res, record, v) : forward(req, res, target, route, facts, record, this.host.logger, this.host.observer, this)));
        return;
      }
      const v = rt.limits.check(subject, now);
      if (v) return this.limited(req, res, record, v);
    }
    forward(req, res, target, route, facts, record, this.host.logger, this.host.observer, this);
  }

  private limited(req: IncomingMessage, res: ServerResponse, record: RequestRecord, v: LimitVerdict): void {
    record.rule = v.name;
    res.setHeader('ratelimit-limit', v.limit);
    res.setHeader('ratelimit-remaining', v.remaining);
    res.setHeader('ratelimit-reset', v.resetSeconds);
    this.answerError(req, res, record, 'AIRGATE_ERR_RATE_LIMITED', { retryAfterSeconds: v.retryAfterSeconds, detail: `Rate limit ${v.name} exceeded.` });
  }

  /**
   * Routes that need an identity: a bearer JWT or (sso) the session cookie. Unauthenticated page
   * requests from a browser go to the IdP; API and XHR calls get 401 JSON with a challenge,
   * never a redirect. The verified identity travels to Airflow as headers and a signed assertion.
   */
  private async authenticated(req: IncomingMessage, res: ServerResponse, target: string, route: CompiledRoute, facts: ForwardFacts, record: RequestRecord, path: string, host: string): Promise<void> {
    const auth = this.host.runtime.auth!;
    let outcome;
    try {
      outcome = await auth.authenticate(req, route.auth === 'sso');
    } catch (err) {
      this.host.logger.error({ requestId: record.id, reason: (err as Error).message }, 'authentication failed');
      outcome = { identity: undefined, reason: 'authentication is unavailable' };
    }
    if (!outcome.identity) {
      record.termination = 'unauthenticated';
      if (route.auth === 'sso' && wantsLoginRedirect(req)) {
        (res as TaggedResponse)[kListener] = this;
        (res as TaggedResponse)[kRecord] = record;
        res.on('close', onResponseClose);
        const login = await auth.loginRedirect(req, this.origin(req, facts), target);
        res.writeHead(302, { location: login.location, 'set-cookie': login.setCookie, 'cache-control': 'no-store', 'x-request-id': record.id });
        return void res.end();
      }
      return this.answerError(req, res, record, 'AIRGATE_ERR_UNAUTHENTICATED', { detail: outcome.reason, challenge: `Bearer realm="airgate", error="invalid_token", error_description="${outcome.reason.replace(/"/g, "'")}"` });
    }
    const id = outcome.identity;
    record.user = id.user;
    record.auth = id.method;
    const names = auth.cfg.headers;
    facts.identity = [names.user, id.user, names.roles, id.role, names.groups, id.groups.join(','), auth.cfg.assertion.header, await auth.signer.assertion(id, route.name, Date.now())];
    if (id.email) facts.identity.push(names.email, id.email);
    facts.setCookie = outcome.setCookie;
    this.admit(req, res, target, route, facts, record, path, host, id, false);
  }

  /** The origin the browser used (for the OIDC redirect URI). */
  private origin(req: IncomingMessage, facts: ForwardFacts): string {
    const host = hostAndRequestId(req).host ?? `127.0.0.1:${facts.port}`;
    return `${facts.proto}://${host}`;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const facts = hostAndRequestId(req);
    const requestId = requestIdFor(facts.requestId);
    const target = originForm(req.url!);
    const host = target === req.url ? facts.host : absoluteFormHost(req.url!);
    if (target === undefined || host === undefined) {
      socket.end(rawErrorResponse('AIRGATE_ERR_BAD_REQUEST', requestId));
      return;
    }
    const route = this.host.runtime.router.match(host, target);
    const server = route?.backend.select(undefined, undefined, undefined);
    if (!route || !server || server === FULL) {
      socket.end(rawErrorResponse(!route ? 'AIRGATE_ERR_NO_ROUTE' : server === FULL ? 'AIRGATE_ERR_QUEUE_FULL' : 'AIRGATE_ERR_NO_SERVER', requestId));
      return;
    }
    tunnel(req, target, socket, head, route, server, this.facts(req, requestId, route.preserveHost ? (target === req.url ? undefined : host) : server.url.host, false));
  }

  /** Malformed or smuggling-shaped requests, slow headers, oversized headers: answer and close, never forward. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code = CLIENT_ERRORS[err.code ?? ''] ?? 'AIRGATE_ERR_BAD_REQUEST';
    const requestId = requestIdFor(undefined);
    this.host.logger.debug({ err: { code: err.code, message: err.message }, requestId, client: proxiedSource(socket) ?? socket.remoteAddress }, 'rejected malformed request');
    socket.end(rawErrorResponse(code, requestId));
  }

  /** The gateway's own endpoints under /_airgate/, which never reach Airflow. */
  private gatewayEndpoint(req: IncomingMessage, res: ServerResponse, target: string, record: RequestRecord): void {
    const requestId = record.id;
    (res as TaggedResponse)[kListener] = this;
    (res as TaggedResponse)[kRecord] = record;
    res.on('close', onResponseClose);
    const path = target.split('?')[0]!;
    const auth = this.host.runtime.auth;
    if (auth && path !== '/_airgate/health') return void this.authEndpoint(req, res, path, target, record, auth);
    if (path === '/_airgate/health') {
      const body = JSON.stringify({ status: this.host.draining ? 'stopping' : 'ok' });
      res.writeHead(this.host.draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': requestId, ...(this.hsts ? { 'strict-transport-security': this.hsts } : {}) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    sendError(req, res, 'AIRGATE_ERR_NO_ROUTE', requestId, { hsts: this.hsts });
  }

  /** /_airgate/callback, /logout, /userinfo, /jwks.json, /backchannel-logout. */
  private async authEndpoint(req: IncomingMessage, res: ServerResponse, path: string, target: string, record: RequestRecord, auth: Authenticator): Promise<void> {
    const facts = this.facts(req, record.id, undefined, false);
    const origin = this.origin(req, facts);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-request-id': record.id, ...headers });
      res.end(text);
    };
    try {
      switch (path) {
        case '/_airgate/jwks.json':
          return json(200, auth.signer.jwks(), { 'cache-control': 'public, max-age=300' });
        case '/_airgate/callback': {
          if (!auth.oidc) break;
          const done = await auth.callback(req, origin, target);
          if ('error' in done) {
            record.termination = 'login-failed';
            this.host.runtime.loginGuard.failure([`ip:${record.client}`], Date.now());
            this.host.logger.warn({ requestId: record.id, client: record.client, reason: done.error }, 'login failed');
            return sendError(req, res, 'AIRGATE_ERR_LOGIN_FAILED', record.id, { detail: done.error, hsts: this.hsts });
          }
          res.writeHead(302, { location: done.location, 'set-cookie': done.cookies, 'cache-control': 'no-store', 'x-request-id': record.id });
          return void res.end();
        }
        case '/_airgate/logout': {
          const who = await auth.authenticate(req, true);
          const out = await auth.logout(who.identity, origin);
          res.writeHead(302, { location: out.location, 'set-cookie': out.cookie, 'cache-control': 'no-store', 'x-request-id': record.id });
          return void res.end();
        }
        case '/_airgate/userinfo': {
          const who = await auth.authenticate(req, true);
          if (!who.identity) return sendError(req, res, 'AIRGATE_ERR_UNAUTHENTICATED', record.id, { detail: who.reason, challenge: 'Bearer realm="airgate"' });
          const { sub, user, email, groups, role, method } = who.identity;
          return json(200, { sub, user, email, groups, role, auth: method });
        }
        case '/_airgate/backchannel-logout': {
          if (req.method !== 'POST' || !auth.oidc) break;
          const chunks: Buffer[] = [];
          for await (const c of req) chunks.push(c as Buffer);
          const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
          if (!token) return json(400, { error: 'invalid_request', error_description: 'logout_token is required' });
          try {
            await auth.backchannelLogout(token);
            return json(200, {});
          } catch (err) {
            return json(400, { error: 'invalid_request', error_description: (err as Error).message });
          }
        }
      }
      sendError(req, res, 'AIRGATE_ERR_NO_ROUTE', record.id, { hsts: this.hsts });
    } catch (err) {
      this.host.logger.error({ requestId: record.id, path, reason: (err as Error).message }, 'gateway endpoint failed');
      if (!res.headersSent) sendError(req, res, 'AIRGATE_ERR_UPSTREAM_PROTOCOL', record.id, { detail: 'The identity provider could not be reached.' });
      else res.destroy();
    }
  }

  /** A gateway-made answer before any upstream work; the request ends when the response closes. */
  private answerError(req: IncomingMessage, res: ServerResponse, record: RequestRecord, code: ErrorCode, extras?: ErrorExtras): void {
    (res as TaggedResponse)[kListener] = this;
    (res as TaggedResponse)[kRecord] = record;
    res.on('close', onResponseClose);
    record.termination = terminationOf(code);
    sendError(req, res, code, record.id, { ...extras, hsts: this.hsts });
  }

  /** Called once per finished request, when its response has closed. */
  ended(record: RequestRecord, res: ServerResponse): void {
    record.status = res.statusCode;
    if (!res.writableFinished && record.termination === 'ok') record.termination = 'client-abort';
    if (record.loginAttempt && record.server) {
      // Airflow re-renders its form with 200 (or 401 from /auth/token) on a failed login; success redirects (302) or creates a token (201).
      const keys = record.loginUser ? [`ip:${record.client}`, `user:${record.loginUser}`] : [`ip:${record.client}`];
      const guard = this.host.runtime.loginGuard;
      if (record.status === 302 || record.status === 201) guard.success(keys);
      else if (record.status === 200 || record.status === 400 || record.status === 401) guard.failure(keys, Date.now());
    }
    this.host.observer.finished(record, performance.now());
    this.host.requestEnded(this);
  }

  /** Stop accepting new connections; HTTP/2 sessions get a graceful GOAWAY. Resolves when every connection is gone. */
  close(): Promise<void> {
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.acceptor?.close();
    for (const s of this.sessions) s.close();
    this.certs?.close();
    return done;
  }

  /** Close keep-alive connections that carry no request right now. */
  closeIdle(): void {
    (this.server as Server).closeIdleConnections?.();
  }

  /** Cut every remaining connection. */
  closeAll(): void {
    (this.server as Server).closeAllConnections?.();
    for (const s of this.sessions) s.destroy();
    for (const s of this.tlsSockets) s.destroy();
  }

  /** Stop accepting; close idle connections now and the others once their requests finish. */
  async retire(graceMs: number): Promise<void> {
    const closed = this.close();
    this.closeIdle();
    const timer = setTimeout(() => this.closeAll(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

function unmap(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function hstsValue(config: ListenerConfig): string | undefined {
  const h = config.tls?.hsts;
  if (!h) return undefined;
  return `max-age=${Math.floor(h.max_age / 1000)}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`;
}

/** A browser asking for a page (not an API call, not XHR): it may be sent to the login page. */
function wantsLoginRedirect(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  return req.headers['sec-fetch-mode'] !== 'cors' && wantsHtml(req);
}
