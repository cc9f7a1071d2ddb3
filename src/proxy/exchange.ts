import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { GatewayError, upstreamErrorCode, type ErrorCode } from '../core/errors.js';
import type { Backend } from '../upstream/backend.js';
import type { Lease, UpstreamServer } from '../upstream/server.js';
import type { Logger } from '../observability/logger.js';
import type { Waiter } from '../upstream/wait-queue.js';
import { clientResponseHeaders, trailersObject } from './headers.js';
import { sendError } from './error-response.js';
import { conditionOf, hasAlternative, retryAllowed } from './retry-policy.js';
import { terminationOf } from '../observability/request-record.js';
import { mismatchMessage } from '../observability/secret-key-drift.js';
import { decorate, tapResponse } from './response-taps.js';
import type { ExchangeInit } from './exchange-init.js';
import type { Authenticated } from '../pipeline/context.js';
import type { Readable } from 'node:stream';
import type { RawFields } from '../upstream/lean/pending.js';
export type { ExchangeInit, ExchangeOwner } from './exchange-init.js';

const kExchange = Symbol('airgate.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

/** Abort reason used to drop an attempt whose status asks for a retry. */
const RETRY_ON_STATUS = new Error('retrying on another server');

/**
 * One proxied request/response pair across its attempts: the undici dispatch handler (legacy
 * callback form, which hands over raw header buffers without parsing them) plus the client-side
 * events that end it. Bodies stream both ways with backpressure. An attempt that fails before
 * any response byte reached the client is retried on another server when the route and the
 * backend's budget allow; a request that finds every server busy waits in the backend's queue.
 */
export class Exchange implements Dispatcher.DispatchHandler, Waiter {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly hashKey: string | undefined;
  private readonly init: ExchangeInit;
  private readonly ctx: Authenticated;
  readonly backend: Backend;
  private body: Buffer | Readable | null;
  private server: UpstreamServer | undefined;
  private tried: UpstreamServer[] | undefined;
  private attemptStart = 0;
  /** The current attempt's slot on its server; undefined between attempts. */
  private lease: Lease | undefined;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private clientGone = false;
  private dispatchedAt = 0;
  /** The status the current attempt's server answered (0 before its headers). */
  private upstreamStatus = 0;
  private queuedAt = -1;
  /** Look at the first body chunk of this answer for Airflow's secret-key mismatch messages. */
  private inspectBody = false;
  /** Retries made so far. */
  retries = 0;

  constructor(init: ExchangeInit) {
    this.init = init;
    const ctx = init.ctx;
    this.ctx = ctx;
    this.req = ctx.req;
    this.res = ctx.res;
    this.requestId = ctx.id;
    this.hashKey = init.hashKey;
    this.backend = ctx.route.backend;
    this.body = init.body;
    // The pipeline's close listener tells it when the client response closes (exchangeClosed).
    (ctx.res as TaggedResponse)[kExchange] = this;
    if (ctx.route.requestTimeout > 0) this.timer = setTimeout(onRequestTimeout, ctx.route.requestTimeout, this);
    this.backend.budget.request(this.backend.clock.now());
  }

  get stickyName(): string | undefined {
    return this.init.stickyName;
  }

  get waiting(): boolean {
    return !this.finished;
  }

  /** Send the request to `server` (first attempt, a retry, or a dequeued request). */
  start(server: UpstreamServer): void {
    const record = this.ctx.record;
    const now = performance.now();
    if (this.queuedAt >= 0 && record.queueMs < 0) record.queueMs = now - this.queuedAt;
    record.server = server.name;
    record.upstream = server.url.host;
    record.dispatchMs = now - record.start;
    record.retries = this.retries;
    this.dispatchedAt = now;
    this.upstreamStatus = 0;
    this.server = server;
    this.lease = this.backend.acquire(server);
    this.abortUpstream = undefined;
    this.attemptStart = this.backend.clock.now();
    const { init, ctx } = this;
    if (!ctx.route.preserveHost) setHost(init.headers, server.url.host);
    server.pool.dispatch(
      {
        path: ctx.target,
        method: ctx.method,
        headers: init.headers,
        body: this.body,
        headersTimeout: ctx.route.headersTimeout,
        bodyTimeout: ctx.route.bodyTimeout,
      },
      this,
    );
  }

  /** Every server was busy: the request now waits in the backend's queue. */
  queued(): void {
    this.queuedAt = performance.now();
  }

  dequeued(server: UpstreamServer): void {
    this.start(server);
  }

  timedOut(): void {
    this.fail('AIRGATE_ERR_QUEUE_TIMEOUT');
  }

  onConnect(abort: (err?: Error) => void): void {
    // From arrival, like every phase time of the record.
    this.ctx.record.connectMs = performance.now() - this.ctx.record.start;
    if (this.clientGone || this.finished) abort(new Error('request already ended'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: RawFields, resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // informational answers are not relayed
    const server = this.server!;
    const record = this.ctx.record;
    this.upstreamStatus = statusCode;
    record.headersMs = performance.now() - record.start;
    this.backend.balancer.observe?.(server, this.backend.clock.now() - this.attemptStart);
    if (statusCode >= 500) {
      this.backend.outlier.failure(server, this.backend.clock.now());
      if (this.shouldRetry(String(statusCode)) && this.hasAlternative()) {
        this.abortUpstream?.(RETRY_ON_STATUS);
        return false;
      }
    } else {
      this.backend.outlier.success(server);
    }
    this.resumeUpstream = resume;
    const headers = clientResponseHeaders(rawHeaders, this.requestId, false);
    const answer = { ctx: this.ctx, server, observer: this.init.owner.observer, stickyName: this.init.stickyName, stickyRefresh: this.init.stickyRefresh, sessionKey: this.init.sessionKey };
    this.inspectBody = tapResponse(statusCode, headers, answer);
    decorate(headers, answer);
    if (statusText && !this.ctx.http2) this.res.writeHead(statusCode, statusText, headers);
    else this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.ctx.record.bytesOut += chunk.length;
    if (this.inspectBody) {
      this.inspectBody = false;
      const sign = mismatchMessage(chunk);
      if (sign) this.init.owner.observer.drift.csrfOrSignature(this.backend.name, this.server!.name, sign);
    }
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', onClientDrain);
    return ok;
  }

  onComplete(trailers: RawFields | null): void {
    this.endAttempt(this.upstreamStatus);
    if (trailers && trailers.length > 0) this.res.addTrailers(trailersObject(trailers));
    this.res.end();
    this.finish();
  }

  onError(err: Error): void {
    // An attempt that failed before (or instead of) an answer counts as a failure of its server,
    // unless the client went away or the request was already over.
    this.endAttempt(this.finished || this.clientGone ? 0 : err === RETRY_ON_STATUS ? this.upstreamStatus : this.upstreamStatus || 502);
    if (this.finished || this.clientGone) return;
    if (err === RETRY_ON_STATUS) {
      if (!this.retry()) this.fail('AIRGATE_ERR_NO_SERVER'); // only if the alternative vanished meanwhile
      return;
    }
    const code = err instanceof GatewayError ? err.code : upstreamErrorCode(err);
    const cause = (err as NodeJS.ErrnoException).code ?? err.message;
    if (!(err instanceof GatewayError)) this.backend.outlier.failure(this.server!, this.backend.clock.now());
    const condition = conditionOf(code);
    if (!this.res.headersSent && condition !== undefined && this.shouldRetry(condition)) {
      const from = this.server!.id;
      if (this.retry()) {
        this.logger().info({ requestId: this.requestId, server: from, to: this.server!.id, cause, retry: this.retries }, 'retrying on another server');
        return;
      }
    }
    this.logger().warn({ requestId: this.requestId, server: this.server?.id, method: this.req.method, url: this.req.url, code, cause, responseStarted: this.res.headersSent, retries: this.retries }, 'upstream request failed');
    this.fail(code);
  }

  private logger(): Logger {
    return this.init.owner.logger;
  }

  private shouldRetry(condition: string): boolean {
    return this.init.retriable && !this.res.headersSent && retryAllowed(this.backend, this.retries, condition);
  }

  private hasAlternative(): boolean {
    return hasAlternative(this.backend, this.server, this.tried);
  }

  /** Start the next attempt on a server not tried yet; false when there is none with room. */
  private retry(): boolean {
    (this.tried ??= []).push(this.server!);
    const next = this.backend.select(undefined, this.hashKey, this.tried);
    if (next === undefined || next === 'full') return false;
    this.retries++;
    this.start(next);
    return true;
  }

  /** End with a gateway error (or cut the response if it already started). */
  fail(code: ErrorCode): void {
    this.failWith(code, code === 'AIRGATE_ERR_QUEUE_TIMEOUT' || code === 'AIRGATE_ERR_QUEUE_FULL' ? Math.max(1, Math.ceil(this.backend.queue.timeoutMs / 1000)) : undefined);
  }

  failWith(code: ErrorCode, retryAfterSeconds: number | undefined): void {
    if (this.finished) return;
    this.ctx.record.termination = terminationOf(code);
    this.finish();
    if (!this.clientGone) sendError(this.req, this.res, code, this.requestId, { hsts: this.ctx.hsts, retryAfterSeconds, path: this.ctx.path });
  }

  /** The client went away or the route timeout fired: stop the upstream request. */
  abort(reason: Error): void {
    if (this.finished) return;
    if (this.lease && this.abortUpstream) this.abortUpstream(reason);
    else this.onError(reason);
  }

  resume(): void {
    this.resumeUpstream?.();
  }

  clientClosed(): void {
    // An unfinished exchange means the client left early. `writableFinished` alone is not enough:
    // an HTTP/2 response whose stream the client reset reports it as true.
    this.clientGone = !this.finished || !this.res.writableFinished;
    if (this.clientGone && this.ctx.record.termination === 'ok') this.ctx.record.termination = 'client-abort';
    if (this.clientGone) this.abort(new Error('client closed the connection'));
    this.finish();
    this.ctx.record.retries = this.retries;
    this.init.owner.ended(this.ctx.record, this.res);
  }

  /** `status`: the upstream's answer for status pages (0: not the server's doing, not counted). */
  private endAttempt(status: number): void {
    const lease = this.lease;
    if (!lease) return;
    this.lease = undefined;
    if (status > 0) this.server!.observe(performance.now() - this.dispatchedAt, status);
    lease.release();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Point the `host` entry the gateway added (always lower-case) at this attempt's server. */
function setHost(headers: string[], host: string): void {
  const i = headers.indexOf('host');
  if (i >= 0 && i % 2 === 0) headers[i + 1] = host;
  else headers.push('host', host);
}

/** The client response closed: its exchange, if one was started, ends the request (one 'close' listener per response, the pipeline's). */
export function exchangeClosed(res: ServerResponse): void {
  (res as TaggedResponse)[kExchange]?.clientClosed();
}

function onClientDrain(this: TaggedResponse): void {
  this[kExchange]?.resume();
}

function onRequestTimeout(exchange: Exchange): void {
  exchange.abort(new GatewayError('AIRGATE_ERR_REQUEST_TIMEOUT'));
}
