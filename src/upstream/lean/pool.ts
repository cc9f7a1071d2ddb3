import type { ConnectionOptions } from 'node:tls';
import { Connection, Phase, type ConnectionOwner } from './connection.js';
import type { Endpoint } from './endpoint.js';
import { LeanError, socketError } from './errors.js';
import { PendingRequest, type LeanDispatchOptions, type LeanHandler, type RequestOwner } from './pending.js';
import type { ParserLimits } from './response-parser.js';

export interface LeanPoolOptions {
  /** Open connections at most; requests beyond wait in FIFO order. */
  connections: number;
  /** Idle time after which a pooled connection closes (keep it below the server's own). */
  keepAliveTimeout: number;
  /** Time for TCP connect (and the TLS handshake). */
  connectTimeout: number;
  /** TLS options for an https: origin (ca, cert, key, servername, rejectUnauthorized). */
  tls?: ConnectionOptions;
  /** Fallbacks when a dispatch gives none. */
  headersTimeout?: number;
  bodyTimeout?: number;
  /** Header names and values of one response together, in bytes (default 16 KiB, undici's). */
  maxHeaderSize?: number;
  /** Header fields of one response at most (default 128). */
  maxHeaders?: number;
}

const CLOSED = () => new LeanError('UND_ERR_CLOSED', 'The client is closed');
const DESTROYED = () => new LeanError('UND_ERR_DESTROYED', 'The client is destroyed');

/**
 * A connection pool to one origin speaking HTTP/1.1 with undici's legacy dispatch handlers: a LIFO
 * stack of idle connections (the warmest is reused first, the rest age out), a FIFO queue when all
 * `connections` are busy, and one sweeping timer for every timeout (connect, response head, body
 * idle, keep-alive) instead of a timer per request.
 */
export class LeanPool implements ConnectionOwner, RequestOwner {
  readonly limits: ParserLimits;
  readonly defaults: { headersTimeout: number; bodyTimeout: number; keepAlive: number };
  private readonly endpoint: Endpoint;
  private readonly max: number;
  private readonly connectTimeout: number;
  private readonly idleStack: Connection[] = [];
  private readonly all = new Set<Connection>();
  private waiting: PendingRequest[] = [];
  private state: 'open' | 'closing' | 'destroyed' = 'open';
  private closeWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private tickMs: number;
  private serveScheduled = false;
  private readonly sweepBound = () => this.sweep();
  private readonly serveBound = () => {
    this.serveScheduled = false;
    this.serve();
  };

  constructor(origin: string | URL, opts: LeanPoolOptions) {
    const url = new URL(origin);
    this.endpoint = { url, host: url.host, tls: url.protocol === 'https:' ? (opts.tls ?? {}) : undefined };
    this.max = Math.max(1, opts.connections);
    this.connectTimeout = opts.connectTimeout;
    const maxHeaderSize = opts.maxHeaderSize ?? 16_384;
    const maxHeaders = opts.maxHeaders ?? 128;
    this.limits = { maxHeaderSize, maxHeaders, maxHeadBytes: Math.max(65_536, maxHeaderSize * 2), maxChunkLine: 4_096 };
    this.defaults = { headersTimeout: opts.headersTimeout ?? 300_000, bodyTimeout: opts.bodyTimeout ?? 300_000, keepAlive: opts.keepAliveTimeout };
    this.tickMs = this.tickFor(Math.min(opts.connectTimeout, opts.keepAliveTimeout, this.defaults.headersTimeout, this.defaults.bodyTimeout));
  }

  /** Requests in flight and waiting, connections open and idle (the names of undici's `PoolStats`). */
  get stats(): { running: number; queued: number; connected: number; free: number } {
    const free = this.idleStack.length;
    return { running: this.all.size - free, queued: this.waiting.length, connected: this.all.size, free };
  }

  /** Send one request; the handler hears about it in undici's legacy callback order. */
  dispatch(opts: LeanDispatchOptions, handler: LeanHandler): boolean {
    const req = new PendingRequest(opts, handler, this);
    if (this.state !== 'open') {
      req.fail(this.state === 'closing' ? CLOSED() : DESTROYED());
      return false;
    }
    const shortest = Math.min(opts.headersTimeout || Infinity, opts.bodyTimeout || Infinity);
    if (this.tickFor(shortest) < this.tickMs) this.retime(this.tickFor(shortest));
    this.place(req, false);
    return true;
  }

  /** Finish what is in flight and queued, then close every connection. */
  close(): Promise<void> {
    if (this.state === 'open') this.state = 'closing';
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.checkClosed();
    return done;
  }

  /** Fail everything in flight and queued and close every connection now. */
  destroy(): Promise<void> {
    this.state = 'destroyed';
    const queued = this.waiting;
    this.waiting = [];
    for (const req of queued) req.fail(DESTROYED());
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    for (const conn of [...this.all]) conn.fail(DESTROYED());
    this.checkClosed();
    return done;
  }

  /** A waiting request was aborted: drop it from the queue, or close the connection carrying it. */
  cancel(req: PendingRequest): void {
    if (req.carrier) {
      req.carrier.fail(new LeanError('UND_ERR_ABORTED', 'Request aborted'));
      return;
    }
    const i = this.waiting.indexOf(req);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  idle(conn: Connection): void {
    this.idleStack.push(conn);
    if (this.waiting.length > 0 && !this.serveScheduled) {
      // As undici, wait one turn before reusing: a server that closes right after answering
      // despite keep-alive is seen closing before a request is written to it.
      this.serveScheduled = true;
      setImmediate(this.serveBound);
    }
    this.checkClosed();
  }

  gone(conn: Connection, retry: PendingRequest | null): void {
    if (!this.all.delete(conn)) return;
    const i = this.idleStack.lastIndexOf(conn);
    if (i >= 0) this.idleStack.splice(i, 1);
    if (retry) {
      if (this.state === 'destroyed') retry.fail(DESTROYED());
      else this.place(retry, true);
    }
    this.serve();
    if (this.all.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.checkClosed();
  }

  private place(req: PendingRequest, front: boolean): void {
    const conn = this.waiting.length === 0 || front ? this.popIdle() : undefined;
    if (conn) conn.assign(req);
    else if (this.all.size < this.max && (this.waiting.length === 0 || front)) this.open(req);
    else if (front) this.waiting.unshift(req);
    else this.waiting.push(req);
  }

  /** Hand queued requests to idle connections, or to new ones while there is room. */
  private serve(): void {
    while (this.waiting.length > 0) {
      const conn = this.popIdle();
      if (conn) conn.assign(this.waiting.shift()!);
      else if (this.all.size < this.max && this.state !== 'destroyed') this.open(this.waiting.shift()!);
      else return;
    }
  }

  private popIdle(): Connection | undefined {
    for (;;) {
      const conn = this.idleStack.pop();
      if (conn === undefined || (conn.phase === Phase.Idle && !conn.socket.destroyed)) return conn;
    }
  }

  private open(req: PendingRequest): void {
    const conn = new Connection(this, this.endpoint, this.connectTimeout);
    this.all.add(conn);
    conn.assign(req);
    this.timer ??= setInterval(this.sweepBound, this.tickMs).unref();
  }

  /** The one timer: closes connections whose current phase ran past its limit. */
  private sweep(): void {
    const now = performance.now();
    for (const conn of this.all) {
      if (conn.limit <= 0 || now - conn.since < conn.limit) continue;
      switch (conn.phase) {
        case Phase.Connecting:
          conn.fail(new LeanError('UND_ERR_CONNECT_TIMEOUT', `Connect Timeout Error (attempted address: ${this.endpoint.host}, timeout: ${conn.limit}ms)`));
          break;
        case Phase.Idle:
          conn.fail(socketError('idle'));
          break;
        case Phase.Head:
          conn.fail(new LeanError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error'));
          break;
        case Phase.Body:
          conn.fail(new LeanError('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error'));
          break;
        default:
          break;
      }
    }
  }

  private tickFor(ms: number): number {
    return Math.min(1000, Math.max(5, Math.floor(ms / 8)));
  }

  private retime(ms: number): void {
    this.tickMs = ms;
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = setInterval(this.sweepBound, ms).unref();
    }
  }

  private checkClosed(): void {
    if (this.state === 'open') return;
    if (this.waiting.length === 0 && this.all.size === this.idleStack.length) for (const conn of [...this.idleStack]) conn.fail(CLOSED());
    if (this.all.size > 0) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
