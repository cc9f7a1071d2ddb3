import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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

/** What a listener needs from the gateway that owns it. */
export interface ListenerHost {
  readonly runtime: Runtime;
  readonly draining: boolean;
  readonly logger: Logger;
  requestStarted(): void;
  requestEnded(server: Server): void;
}

const kListener = Symbol('airgate.listener');
type TaggedResponse = ServerResponse & { [kListener]?: Listener };

function onResponseClose(this: TaggedResponse): void {
  const l = this[kListener]!;
  l.ended();
}

const CLIENT_ERRORS: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'AIRGATE_ERR_CLIENT_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'AIRGATE_ERR_HEADERS_TOO_LARGE',
};

/** One listening socket and its request entry points. */
export class Listener {
  config: ListenerConfig;
  readonly server: Server;
  private readonly host: ListenerHost;
  private portText = '';

  constructor(config: ListenerConfig, host: ListenerHost) {
    this.config = config;
    this.host = host;
    const t = config.timeouts;
    this.server = createServer({
      maxHeaderSize: config.max_header_bytes,
      headersTimeout: t.client_header,
      requestTimeout: 0, // uploads may take long; the header deadline above guards against slowloris
      keepAliveTimeout: t.keep_alive,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(t.client_header / 4))),
      requireHostHeader: false, // checked in onRequest so the 400 is ours, with a request id
    });
    this.server.on('request', this.onRequest.bind(this));
    this.server.on('upgrade', this.onUpgrade.bind(this));
    this.server.on('clientError', this.onClientError.bind(this));
  }

  /** Whether a reload can keep this listener's socket for `next` (same name and address). */
  sameSocket(next: ListenerConfig): boolean {
    return next.name === this.config.name && next.address.host === this.config.address.host && next.address.port === this.config.address.port;
  }

  /** Apply a reloaded listener config that keeps the socket: timeouts and limits change in place. */
  update(next: ListenerConfig): void {
    this.config = next;
    this.server.headersTimeout = next.timeouts.client_header;
    this.server.keepAliveTimeout = next.timeouts.keep_alive;
    this.server.maxHeadersCount = null;
  }

  /** The bound port (the real one when the configured port is 0). */
  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : this.config.address.port;
  }

  listen(): Promise<void> {
    const { host, port } = this.config.address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.off('error', onError);
        this.portText = String(this.port);
        resolve();
      });
    });
  }

  private facts(req: IncomingMessage, requestId: string, upstreamHost: string | undefined, upgrading: boolean): ForwardFacts {
    return { requestId, clientAddress: clientAddress(req), proto: 'http', port: this.portText, upstreamHost, upgrading };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const gw = this.host;
    gw.requestStarted();
    if (gw.draining) res.shouldKeepAlive = false;
    const rt = gw.runtime;
    const facts = hostAndRequestId(req);
    const requestId = requestIdFor(facts.requestId);
    const target = originForm(req.url!);
    const host = target === req.url ? facts.host : absoluteFormHost(req.url!);
    if (target === undefined || (host === undefined && req.httpVersionMinor === 1)) {
      res.shouldKeepAlive = false;
      return this.answerError(req, res, 'AIRGATE_ERR_BAD_REQUEST', requestId, { detail: target === undefined ? 'The request target must be a path.' : 'HTTP/1.1 requests need a Host header.' });
    }
    if (target.startsWith('/_airgate/')) return this.gatewayEndpoint(req, res, target, requestId);
    const route = rt.router.match(host, target);
    if (!route) return this.answerError(req, res, 'AIRGATE_ERR_NO_ROUTE', requestId);
    forward(req, res, target, route, this.facts(req, requestId, target === req.url ? undefined : host, false), gw.logger, this);
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
    this.host.logger.debug({ err: { code: err.code, message: err.message }, requestId, client: socket.remoteAddress }, 'rejected malformed request');
    socket.end(rawErrorResponse(code, requestId));
  }

  /** The gateway's own endpoints under /_airgate/, which never reach Airflow. */
  private gatewayEndpoint(req: IncomingMessage, res: ServerResponse, target: string, requestId: string): void {
    (res as TaggedResponse)[kListener] = this;
    res.on('close', onResponseClose);
    const path = target.split('?')[0];
    if (path === '/_airgate/health') {
      const body = JSON.stringify({ status: this.host.draining ? 'stopping' : 'ok' });
      res.writeHead(this.host.draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': requestId });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    sendError(req, res, 'AIRGATE_ERR_NO_ROUTE', requestId);
  }

  /** A gateway-made answer before any upstream work; the request ends when the response closes. */
  private answerError(req: IncomingMessage, res: ServerResponse, code: ErrorCode, requestId: string, extras?: ErrorExtras): void {
    (res as TaggedResponse)[kListener] = this;
    res.on('close', onResponseClose);
    sendError(req, res, code, requestId, extras);
  }

  /** Called once per finished request. */
  ended(): void {
    this.host.requestEnded(this.server);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Stop accepting; close idle connections now and the others once their requests finish. */
  async retire(graceMs: number): Promise<void> {
    const closed = this.close();
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}
