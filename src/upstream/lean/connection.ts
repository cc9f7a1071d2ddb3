import type { Socket } from 'node:net';
import type { ParserLimits, ParserSink } from './response-parser.js';
import { ResponseParser } from './response-parser.js';
import type { ResponseHead } from './head-parser.js';
import { LeanError, socketError } from './errors.js';
import { buildRequestHead } from './request-head.js';
import type { PendingRequest } from './pending.js';
import { StreamBody } from './stream-body.js';
import { openSocket, type Endpoint } from './endpoint.js';

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  readonly limits: ParserLimits;
  readonly defaults: { headersTimeout: number; bodyTimeout: number; keepAlive: number };
  /** The response finished and the connection may carry another request. */
  idle(conn: Connection): void;
  /** The connection is gone (closed, or handed to an upgrade); `retry` is a request to send again. */
  gone(conn: Connection, retry: PendingRequest | null): void;
}

/** What the pool's sweeping timer checks: which clock runs since when. */
export const enum Phase {
  Connecting,
  Idle,
  /** Request sent (or its body still being sent): waiting for the response head. */
  Head,
  /** Response body arriving. */
  Body,
  /** The consumer paused the body: no timeout runs. */
  Paused,
  Closed,
}

/**
 * One keep-alive connection to a server carrying one request at a time (no pipelining). Timeouts
 * are not timers: `phase` and `since` let the pool's sweep find the connections that overstayed.
 */
export class Connection implements ParserSink {
  readonly socket: Socket;
  private readonly owner: ConnectionOwner;
  private readonly parser: ResponseParser;
  phase = Phase.Connecting;
  /** When the current phase's clock started (performance.now()). */
  since = performance.now();
  /** Timeout of the current phase in ms (0: none). */
  limit = 0;
  /** Carried a request before (a closed reused connection may be a stale keep-alive). */
  reused = false;
  /** Idle time allowed after this response (the pool's, lowered by the server's Keep-Alive hint). */
  ttl: number;
  private req: PendingRequest | null = null;
  private stream: StreamBody | null = null;
  private error: Error | null = null;
  private reusable = true;
  /** The socket's 'close' event was seen. */
  private socketClosed = false;
  /** Flowing mode: each chunk is parsed as it arrives; a paused parser pauses the socket until `resume`. */
  private readonly onSocketData = (chunk: Buffer) => {
    this.data(chunk);
    if (this.parser.paused && this.phase !== Phase.Closed) this.socket.pause();
  };
  private readonly hostHeader: string;
  private readonly onSocketEnd = () => this.end();
  private readonly onSocketError = (err: Error) => void (this.error ??= err);
  private readonly onSocketClose = () => this.closed();

  constructor(owner: ConnectionOwner, endpoint: Endpoint, connectTimeout: number) {
    this.owner = owner;
    this.parser = new ResponseParser(this, owner.limits);
    this.ttl = owner.defaults.keepAlive;
    this.hostHeader = endpoint.host;
    this.limit = connectTimeout;
    this.socket = openSocket(endpoint, () => this.ready());
    // 'data' in flowing mode: a chunk is parsed in the read callback itself ('readable' + read()
    // cost a tick and a buffer round trip per chunk). Backpressure pauses the socket.
    this.socket.on('data', this.onSocketData);
    this.socket.on('end', this.onSocketEnd);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
  }

  assign(req: PendingRequest): void {
    this.req = req;
    req.carrier = this;
    if (this.phase !== Phase.Connecting) this.send();
  }

  /** Close because the pool's sweep found a phase over its limit (or the pool is closing). */
  fail(err: Error): void {
    // Once the socket has closed no 'close' event comes to settle the request (a paused body
    // resumed after the upstream closed, whose rest turns out to be cut short): settle it here.
    if (this.phase === Phase.Closed || this.socketClosed) {
      this.settle(err);
      return;
    }
    this.error ??= err;
    this.reusable = false;
    this.socket.destroy();
  }

  private ready(): void {
    this.socket.setKeepAlive(true, 60_000);
    if (this.req) this.send();
    else this.toIdle();
  }

  private send(): void {
    const req = this.req!;
    if (!req.connected) {
      req.connected = true;
      req.handler.onConnect?.(req.abort);
    }
    if (req.done) {
      this.req = null;
      if (this.phase !== Phase.Closed) this.toIdle();
      return;
    }
    const { opts, body } = req;
    const upgrade = opts.upgrade ? (opts.upgrade === true ? 'Websocket' : opts.upgrade) : undefined;
    let head;
    try {
      head = buildRequestHead({ method: opts.method, path: opts.path, headers: opts.headers, upgrade }, this.hostHeader, body === null ? -2 : Buffer.isBuffer(body) ? body.length : -1);
    } catch (err) {
      this.req = null;
      this.toIdle();
      req.fail(err as Error);
      return;
    }
    if (head.close || upgrade !== undefined) this.reusable = false;
    this.parser.reset(opts.method === 'HEAD', upgrade !== undefined);
    this.startPhase(Phase.Head, opts.headersTimeout ?? this.owner.defaults.headersTimeout);
    if (body === null) this.socket.write(head.text, 'latin1');
    else if (Buffer.isBuffer(body)) {
      this.socket.cork();
      this.socket.write(head.text, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    } else {
      this.socket.write(head.text, 'latin1');
      this.stream = new StreamBody(this.socket, body, { chunked: head.chunked, declared: head.declaredLength, progress: () => this.bodyProgress(), done: (err) => this.bodySent(err) });
    }
  }

  private startPhase(phase: Phase, limit: number): void {
    this.phase = phase;
    this.limit = limit;
    this.since = performance.now();
  }

  /** A request body chunk went out: the response-head clock counts from the last byte sent. */
  private bodyProgress(): void {
    if (this.phase === Phase.Head) this.since = performance.now();
  }

  private bodySent(err: Error | null): void {
    this.stream = null;
    if (err) this.fail(err);
  }

  private data(chunk: Buffer): void {
    if (this.phase === Phase.Body) this.since = performance.now();
    if (!this.req) {
      // Bytes on an idle connection: nothing asked for them; never reuse it.
      this.reusable = false;
      this.socket.destroy();
      return;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private end(): void {
    if (!this.req || this.req.done) return;
    try {
      this.parser.finish();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private resume(): void {
    if (!this.parser.paused || !this.req || this.req.done) return;
    this.startPhase(Phase.Body, this.req.opts.bodyTimeout ?? this.owner.defaults.bodyTimeout);
    try {
      this.parser.resume();
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (!this.parser.paused && !this.socket.destroyed) this.socket.resume();
  }

  /** `req`'s resume: a no-op once `req` has ended (its connection may carry another request by then). */
  resumeFor(req: PendingRequest): void {
    if (this.req === req) this.resume();
  }

  onInfo(head: ResponseHead): void {
    const req = this.req!;
    req.handler.onHeaders?.(head.status, head.raw, req.resume, head.statusText);
  }

  onHead(head: ResponseHead): boolean {
    const req = this.req!;
    if (head.close) this.reusable = false;
    if (head.keepAliveMs >= 0) this.ttl = Math.min(this.owner.defaults.keepAlive, head.keepAliveMs - 1000);
    this.startPhase(Phase.Body, req.opts.bodyTimeout ?? this.owner.defaults.bodyTimeout);
    const go = req.handler.onHeaders?.(head.status, head.raw, req.resume, head.statusText) !== false;
    return this.proceed(go);
  }

  onBody(chunk: Buffer): boolean {
    const req = this.req!;
    if (req.done) return false;
    return this.proceed(req.handler.onData?.(chunk) !== false);
  }

  /** Go on, or pause the socket until the consumer calls resume (also after an abort: it stops here). */
  private proceed(go: boolean): boolean {
    if (go && !this.req!.done) return true;
    this.phase = this.req!.done ? Phase.Closed : Phase.Paused;
    return false;
  }

  onEnd(trailers: string[]): void {
    const req = this.req!;
    this.req = null;
    if (this.stream || this.parser.close || this.ttl <= 0) this.reusable = false; // answered before its body was sent, or close-delimited
    this.stream?.stop();
    this.stream = null;
    req.carrier = null;
    req.complete(trailers);
    if (this.reusable && this.phase !== Phase.Closed && !this.socket.destroyed) {
      this.reused = true;
      this.toIdle();
    } else this.socket.destroy();
  }

  onUpgrade(head: ResponseHead, rest: Buffer): void {
    const req = this.req!;
    this.req = null;
    this.phase = Phase.Closed;
    const socket = this.socket;
    socket.pause();
    socket.removeListener('data', this.onSocketData);
    // Back to a fresh stream's state (Readable's readableFlowing setter), as undici hands it over:
    // the new owner's first 'data' listener or pipe starts the flow.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    socket.removeListener('end', this.onSocketEnd);
    socket.removeListener('error', this.onSocketError);
    socket.removeListener('close', this.onSocketClose);
    if (rest.length > 0) socket.unshift(rest);
    this.owner.gone(this, null);
    req.upgraded(head, socket);
  }

  private toIdle(): void {
    if (this.socket.destroyed || this.phase === Phase.Closed) return;
    this.startPhase(Phase.Idle, this.ttl);
    this.owner.idle(this);
    if (this.phase === Phase.Idle && this.socket.isPaused()) this.socket.resume(); // bytes nobody asked for close it
  }

  private closed(): void {
    this.socketClosed = true;
    const wasConnecting = this.phase === Phase.Connecting;
    this.phase = Phase.Closed;
    this.stream?.stop();
    this.stream = null;
    const req = this.req;
    if (req && !req.done && this.parser.waitingForResume) {
      this.owner.gone(this, null); // a paused close-delimited body still ends on resume
      return;
    }
    this.req = null;
    // Only a connection the server dropped (FIN or a reset) is a stale keep-alive; a timeout or an
    // abort of ours is not: the request reached the server, which was still working on it.
    const dropped = this.error === null || !(this.error instanceof LeanError) || this.error.code === 'UND_ERR_SOCKET';
    const retry = req !== null && !req.done && !wasConnecting && this.reused && this.parser.received === 0 && dropped && req.replayable;
    if (retry) req.retried = true;
    this.owner.gone(this, retry ? req : null);
    if (req && !retry) this.settle(this.error ?? socketError(wasConnecting ? 'closed' : this.parser.received === 0 ? 'other side closed' : 'closed'), req);
  }

  private settle(err: Error, req: PendingRequest | null = this.req): void {
    this.req = null;
    req?.fail(err);
  }
}
