import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { GatewayError, upstreamErrorCode } from '../core/errors.js';
import type { UpstreamServer } from '../upstream/server.js';
import { clientResponseHeaders, trailersObject } from './headers.js';
import { sendError } from './error-response.js';
import type { Logger } from '../observability/logger.js';

const kExchange = Symbol('airgate.exchange');

/** Told once when the client response has closed (the listener counts in-flight requests). */
export interface ExchangeOwner {
  ended(): void;
}
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

/**
 * One proxied request/response pair: the undici dispatch handler (legacy callback form, which
 * hands over raw header buffers without parsing them into objects) plus the client-side
 * events that end it. Bodies stream both ways with backpressure and nothing is buffered.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly server: UpstreamServer;
  private readonly logger: Logger;
  private readonly owner: ExchangeOwner;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  private clientGone = false;

  constructor(req: IncomingMessage, res: ServerResponse, requestId: string, server: UpstreamServer, requestTimeout: number, logger: Logger, owner: ExchangeOwner) {
    this.logger = logger;
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.requestId = requestId;
    this.server = server;
    (res as TaggedResponse)[kExchange] = this;
    res.on('close', onClientClose);
    if (requestTimeout > 0) this.timer = setTimeout(onRequestTimeout, requestTimeout, this);
    server.inflight++;
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone || this.settled) abort(new Error('request already ended'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // informational answers are not relayed
    this.resumeUpstream = resume;
    const headers = clientResponseHeaders(rawHeaders, this.requestId, false);
    if (statusText) this.res.writeHead(statusCode, statusText, headers);
    else this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', onClientDrain);
    return ok;
  }

  onComplete(trailers: string[] | null): void {
    if (trailers && trailers.length > 0) this.res.addTrailers(trailersObject(trailers));
    this.res.end();
    this.settle();
  }

  onError(err: Error): void {
    this.settle();
    if (this.clientGone) return;
    const code = err instanceof GatewayError ? err.code : upstreamErrorCode(err);
    this.logger.warn({ requestId: this.requestId, server: this.server.id, method: this.req.method, url: this.req.url, code, cause: (err as NodeJS.ErrnoException).code ?? err.message, responseStarted: this.res.headersSent }, 'upstream request failed');
    sendError(this.req, this.res, code, this.requestId);
  }

  /** The client went away or the route timeout fired: stop the upstream request. */
  abort(reason: Error): void {
    if (this.settled) return;
    if (this.abortUpstream) this.abortUpstream(reason);
    else this.onError(reason);
  }

  resume(): void {
    this.resumeUpstream?.();
  }

  clientClosed(): void {
    this.clientGone = !this.res.writableFinished;
    if (this.clientGone) this.abort(new Error('client closed the connection'));
    this.settle();
    this.owner.ended();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.server.inflight--;
    if (this.timer) clearTimeout(this.timer);
  }
}

function onClientClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

function onClientDrain(this: TaggedResponse): void {
  this[kExchange]?.resume();
}

function onRequestTimeout(exchange: Exchange): void {
  exchange.abort(new GatewayError('AIRGATE_ERR_REQUEST_TIMEOUT'));
}
