import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/schema.js';
import type { ErrorCode } from '../core/errors.js';
import { requestIdFor } from '../proxy/request-id.js';
import { rawErrorResponse, sendError, type ErrorExtras } from '../proxy/error-response.js';
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
import { rawHeader } from '../proxy/request-keys.js';
import { RequestRecord, terminationOf } from '../observability/request-record.js';
import type { Observer } from '../observability/observer.js';

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
    return { requestId, clientAddress: client, peer, trustXff, proto: this.proto, port: this.portText, upstreamHost, upgrading, hsts: this.hsts, http2: req.httpVersionMajor === 2 };
  }

  /** `redirect_to_https`: every request goes to the same host and path on the HTTPS port. */
  private onRedirect(req: IncomingMessage, res: ServerResponse): void {
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
    const gw = this.host;
    const start = performance.now();
    gw.requestStarted();
    if (gw.draining) res.shouldKeepAlive = false;
    const rt = gw.runtime;
    const found = hostAndRequestId(req);
    const requestId = requestIdFor(found.requestId);
    const target = originForm(req.url!);
    const host = target === req.url ? found.host : absoluteFormHost(req.url!);
    const facts = this.facts(req, requestId, target === req.url ? undefined : host, false);
    const record = new RequestRecord(start, requestId, req.method ?? '', target ?? req.url ?? '', facts.clientAddress, this.config.name);
    if (target === undefined || (host === undefined && req.httpVersionMinor === 1)) {
      res.shouldKeepAlive = false;
      return this.answerError(req, res, record, 'AIRGATE_ERR_BAD_REQUEST', { detail: target === undefined ? 'The request target must be a path.' : 'HTTP/1.1 requests need a Host header.' });
    }
    if (target.startsWith('/_airgate/')) return this.gatewayEndpoint(req, res, target, record);
    const route = rt.router.match(host, target);
    if (!route) return this.answerError(req, res, record, 'AIRGATE_ERR_NO_ROUTE');
    record.route = route.name;
    record.backend = route.backend.name;
    forward(req, res, target, route, facts, record, gw.logger, gw.observer, this);
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
    const path = target.split('?')[0];
    if (path === '/_airgate/health') {
      const body = JSON.stringify({ status: this.host.draining ? 'stopping' : 'ok' });
      res.writeHead(this.host.draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': requestId, ...(this.hsts ? { 'strict-transport-security': this.hsts } : {}) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    sendError(req, res, 'AIRGATE_ERR_NO_ROUTE', requestId, { hsts: this.hsts });
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
