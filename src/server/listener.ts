import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/schema.js';
import { GatewayError, type ErrorCode } from '../core/errors.js';
import { requestIdFor } from '../proxy/request-id.js';
import { rawErrorResponse } from '../proxy/error-response.js';
import type { Runtime } from './runtime.js';
import type { Logger } from '../observability/logger.js';
import { buildServer, type NodeServer } from './node-server.js';
import type { CertificateStore } from './tls/certificate-store.js';
import { readProxyHeader } from './proxy-protocol.js';
import { acmeChallenges } from './tls/acme-challenges.js';
import type { Observer } from '../observability/observer.js';
import { RequestPipeline } from '../pipeline/pipeline.js';
import type { ListenerFacts } from '../pipeline/context.js';
import { GatewayEndpoints } from './gateway-endpoints.js';
import { redirectToHttps } from './https-redirect.js';

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
type PeerSocket = Socket & { [kPeer]?: string; _parent?: PeerSocket; _httpMessage?: ServerResponse | null };

/** The peer of a connection: the PROXY header's source when there is one (also under TLS), else the socket's address, IPv4-mapped IPv6 unwrapped. */
function peerOf(socket: Socket): string {
  const s = socket as PeerSocket;
  return s[kPeer] ?? s._parent?.[kPeer] ?? unmap(socket.remoteAddress ?? '');
}

const CLIENT_ERRORS: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'AIRGATE_ERR_CLIENT_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'AIRGATE_ERR_HEADERS_TOO_LARGE',
};

const WEBSOCKET = /(?:^|,)\s*websocket\s*(?:,|$)/i;

const kEndWatched = Symbol('airgate.endWatched');

/**
 * The client closed its sending side while its answer is still pending. A client that said it
 * would close (HTTP/1.0, `Connection: close`: `nc -N`, simple tools) has half-closed and still
 * gets its answer. A keep-alive HTTP/1.1 client that sends FIN has gone away: the connection is
 * cut, which aborts the upstream request (as node does without half-open support).
 */
function onClientEnd(this: PeerSocket): void {
  const res = this._httpMessage;
  if (!res || res.writableEnded) return;
  const req = res.req;
  const closing = req.httpVersionMinor === 0 || /(?:^|,)\s*close\s*(?:,|$)/i.test(req.headers.connection ?? '');
  if (!closing) this.destroy();
}

/**
 * One listening socket: plain HTTP, HTTPS (certificates by SNI) or HTTP/2 with HTTP/1.1 on the
 * same port; optionally behind the PROXY protocol, or answering every request with a redirect
 * to HTTPS. It owns connections only — TLS, PROXY headers, per-address caps, timeouts, close —
 * and hands every request, whatever door it came through, to the one request pipeline.
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
  private readonly pipeline: RequestPipeline;
  private facts: ListenerFacts;

  constructor(config: ListenerConfig, host: ListenerHost) {
    this.config = config;
    this.host = host;
    const built = buildServer(config, host.logger);
    this.server = built.server;
    this.certs = built.certs;
    this.sessions = built.sessions;
    this.tlsSockets = built.sockets;
    this.facts = listenerFacts(config, '');
    const pipelineHost = {
      get runtime() {
        return host.runtime;
      },
      get draining() {
        return host.draining;
      },
      logger: host.logger,
      observer: host.observer,
      requestStarted: () => host.requestStarted(),
      requestEnded: () => host.requestEnded(this),
    };
    this.pipeline = new RequestPipeline(pipelineHost, new GatewayEndpoints(), () => this.facts);
    // A client that half-closes after a request it said was its last (HTTP/1.0 tools, `nc -N`) still gets its answer (see onClientEnd).
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    const httpsPort = config.redirect_to_https;
    this.server.on('request', httpsPort ? (req: IncomingMessage, res: ServerResponse) => this.onRedirect(req, res, httpsPort) : this.onRequest.bind(this));
    this.server.on('upgrade', this.onUpgrade.bind(this));
    this.server.on('clientError', this.onClientError.bind(this));
    this.acceptor = config.proxy_protocol ? createNetServer({ pauseOnConnect: false }, (s) => void this.acceptProxied(s)) : undefined;
    if (config.max_connections > 0) (this.acceptor ?? this.server).maxConnections = config.max_connections;
    if (config.max_connections_per_ip > 0) this.server.on('connection', (s: Socket) => this.limitPerIp(s));
  }

  private readonly perIp = new Map<string, number>();

  /** `max_connections_per_ip`: a client holding that many connections has its next one closed. */
  private limitPerIp(socket: Socket): void {
    const ip = peerOf(socket);
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
    this.facts = listenerFacts(next, this.facts.port);
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
        this.facts = listenerFacts(this.config, String(this.port));
        resolve();
      });
    });
  }

  private onRedirect(req: IncomingMessage, res: ServerResponse, httpsPort: number): void {
    if (acmeChallenges.respond(req, res)) return;
    redirectToHttps(req, res, httpsPort, this.host.draining);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (acmeChallenges.respond(req, res)) return;
    const socket = req.socket as PeerSocket & { [kEndWatched]?: true };
    if (req.httpVersionMajor === 1 && !socket[kEndWatched]) {
      socket[kEndWatched] = true;
      socket.on('end', onClientEnd);
    }
    this.pipeline.handle(req, res, peerOf(req.socket), false, undefined);
  }

  /**
   * An Upgrade request enters the same pipeline as any other: it gets a response object on its
   * connection, so every refusal is an ordinary HTTP answer. A WebSocket upgrade that passes
   * every check is tunnelled; any other protocol is served as an ordinary request without the
   * upgrade; the connection closes after the answer.
   */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const s = socket as Socket;
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(s);
    res.once('finish', () => {
      res.detachSocket(s);
      s.destroySoon();
    });
    const ws = WEBSOCKET.test(req.headers.upgrade ?? '');
    this.pipeline.handle(req, res, peerOf(s), true, ws ? { socket, head } : undefined);
  }

  /** Malformed or smuggling-shaped requests, slow headers, oversized headers: answer and close, never forward. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const inFlight = (socket as PeerSocket)._httpMessage;
    if (inFlight) {
      inFlight.shouldKeepAlive = false;
      const req = inFlight.req;
      // Bytes after a complete request whose answer is still on its way (after `Connection: close`,
      // say): that answer is finished first, then the connection closes. Nothing is written ahead of it.
      if (req.complete) return;
      // A malformed body of the request in flight (a bad chunk size): whoever reads the body fails
      // the request with the gateway's 400; nothing of it is forwarded complete.
      if (req.listenerCount('error') > 0) {
        req.emit('error', new GatewayError('AIRGATE_ERR_BAD_REQUEST', { message: err.message }));
        return;
      }
    }
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code = CLIENT_ERRORS[err.code ?? ''] ?? 'AIRGATE_ERR_BAD_REQUEST';
    const requestId = requestIdFor(undefined);
    this.host.logger.debug({ err: { code: err.code, message: err.message }, requestId, client: peerOf(socket) }, 'rejected malformed request');
    socket.end(rawErrorResponse(code, requestId));
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

function listenerFacts(config: ListenerConfig, port: string): ListenerFacts {
  return Object.freeze({
    name: config.name,
    proto: config.tls ? 'https' : 'http',
    port,
    hsts: hstsValue(config),
    dropUnderscoreHeaders: config.drop_underscore_headers,
    bodyIdleMs: config.timeouts.client_body_idle,
    bodyMinRate: config.client_body_min_rate,
  });
}
