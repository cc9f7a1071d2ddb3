import type { Duplex, Readable } from 'node:stream';
import { LeanError } from './errors.js';

/** The dispatch options the gateway uses (a subset of undici's `Dispatcher.DispatchOptions`). */
export interface LeanDispatchOptions {
  path: string;
  method: string;
  headers?: string[] | null;
  body?: Buffer | Uint8Array | string | Readable | null;
  headersTimeout?: number | null;
  bodyTimeout?: number | null;
  upgrade?: string | boolean | null;
}

/**
 * A flat `name, value, …` header or trailer list: latin1 strings from the lean client, Buffers
 * from undici (consumers read either with `toString('latin1')`).
 */
export type RawFields = readonly (Buffer | string)[];

/** undici's legacy handler form, as the gateway's Exchange and Tunnel implement it. */
export interface LeanHandler {
  onConnect?(abort: (err?: Error) => void): void;
  onHeaders?(statusCode: number, rawHeaders: RawFields, resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: RawFields | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: RawFields | null, socket: Duplex): void;
}

/** Where a request waiting for a connection goes when the caller aborts it. */
export interface RequestOwner {
  /** Take a queued request out of the wait queue; destroy the connection that carries it otherwise. */
  cancel(req: PendingRequest): void;
}

/** What a finished request's handler becomes (see `PendingRequest.handler`). */
const SPENT: LeanHandler = {};
/** What a finished request's options become (see `PendingRequest.opts`). */
const SPENT_OPTS: LeanDispatchOptions = Object.freeze({ path: '', method: '' });

/** One dispatched request across the connections it is tried on (at most two: one stale-socket retry). */
export class PendingRequest {
  /**
   * The handler, options and body are dropped (replaced by empty ones) once the request has ended:
   * a finished request is still referenced for a while (a closure the consumer keeps, a dead
   * old-generation object pointing at it), and through it its handler — the gateway's whole
   * request — and its options — the header list and strings — would survive young-generation GCs
   * and be promoted. Measured with `--trace-gc-nvp` on the plain bench row: keeping the handler,
   * ~8.7 MB survived each scavenge (pauses 10–18 ms, -c8 p99 8–12 ms); keeping the options, ~1 MB
   * survived and ~1 MB was promoted per scavenge (pauses ~2 ms); dropping both, ~0.1 MB survives
   * and ~5 KB is promoted (pauses ~1 ms).
   */
  opts: LeanDispatchOptions;
  handler: LeanHandler;
  body: Buffer | Readable | null;
  private readonly owner: RequestOwner;
  /** onConnect was called (once per request, before anything else). */
  connected = false;
  /** onComplete or onError was called: nothing more is reported. */
  done = false;
  aborted = false;
  /** Sent again once after a reused connection closed before any answer byte. */
  retried = false;
  readonly abort: (err?: Error) => void;
  /**
   * The `resume` handed to onHeaders: bound to this request, not to its connection, so a consumer
   * that calls it after the request ended cannot resume the next request the connection carries.
   */
  readonly resume = (): void => {
    if (!this.done) this.carrier?.resumeFor(this);
  };
  /** The connection carrying the request, once it has one. */
  carrier: { fail(err: Error): void; resumeFor(req: PendingRequest): void } | null = null;

  constructor(opts: LeanDispatchOptions, handler: LeanHandler, owner: RequestOwner) {
    this.opts = opts;
    this.handler = handler;
    this.owner = owner;
    const b = opts.body;
    this.body = b == null ? null : typeof b === 'string' ? Buffer.from(b) : b instanceof Uint8Array && !Buffer.isBuffer(b) ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : b;
    this.abort = (err?: Error) => {
      if (this.done) return;
      this.aborted = true;
      const body = this.body;
      this.fail(err ?? new LeanError('UND_ERR_ABORTED', 'Request aborted'));
      // As undici: an aborted request's stream body is destroyed with it.
      if (body !== null && !Buffer.isBuffer(body)) body.destroy();
      this.owner.cancel(this);
    };
  }

  /** A body-less GET or HEAD: safe to send again when a stale keep-alive connection dropped it. */
  get replayable(): boolean {
    return !this.retried && !this.aborted && this.body === null && (this.opts.method === 'GET' || this.opts.method === 'HEAD') && !this.opts.upgrade;
  }

  /** Report the failure once. */
  fail(err: Error): void {
    if (this.done) return;
    this.end().onError?.(err);
  }

  /** The server switched protocols: the socket is the handler's now. */
  upgraded(head: { status: number; raw: RawFields }, socket: Duplex): void {
    this.end().onUpgrade?.(head.status, head.raw, socket);
  }

  complete(trailers: RawFields): void {
    if (this.done) return;
    this.end().onComplete?.(trailers);
  }

  /** Mark the request done and let go of what belongs to it; returns the handler to tell. */
  private end(): LeanHandler {
    this.done = true;
    const handler = this.handler;
    this.handler = SPENT;
    this.opts = SPENT_OPTS;
    this.body = null;
    return handler;
  }
}
