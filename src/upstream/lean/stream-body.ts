import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { LeanError } from './errors.js';

export interface StreamBodyOptions {
  /** Frame each chunk (`transfer-encoding: chunked`, no length was declared). */
  chunked: boolean;
  /** The declared `content-length`, or -1. */
  declared: number;
  /** A chunk went out (the pool's response-head clock restarts). */
  progress: () => void;
  /** The whole body went out (null), or it failed. */
  done: (err: Error | null) => void;
}

/**
 * A request body stream written to the upstream socket with backpressure: the source pauses
 * while `socket.write` reports a full buffer and resumes on `drain`.
 */
export class StreamBody {
  private readonly socket: Socket;
  private readonly source: Readable;
  private readonly opts: StreamBodyOptions;
  private sent = 0;
  private stopped = false;
  private readonly onData = (chunk: Buffer | string) => this.data(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onEnd = () => this.end();
  private readonly onError = (err: Error) => this.finish(err);
  private readonly onDrain = () => {
    if (!this.stopped) this.source.resume();
  };

  constructor(socket: Socket, source: Readable, opts: StreamBodyOptions) {
    this.socket = socket;
    this.source = source;
    this.opts = opts;
    if (source.readableEnded) {
      this.end();
      return;
    }
    source.on('data', this.onData);
    source.on('end', this.onEnd);
    source.on('error', this.onError);
    source.resume();
  }

  /** Stop writing (the response ended, or the connection failed); the source is left alone. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.off('error', this.onError);
    this.socket.off('drain', this.onDrain);
  }

  private data(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.sent += chunk.length;
    if (this.opts.declared >= 0 && this.sent > this.opts.declared) {
      this.finish(new LeanError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header'));
      return;
    }
    let ok: boolean;
    if (this.opts.chunked) {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.socket.write(chunk);
      ok = this.socket.write('\r\n', 'latin1');
      this.socket.uncork();
    } else ok = this.socket.write(chunk);
    this.opts.progress();
    if (!ok) {
      this.source.pause();
      this.socket.once('drain', this.onDrain);
    }
  }

  private end(): void {
    if (this.stopped) return;
    if (this.opts.declared >= 0 && this.sent !== this.opts.declared) {
      this.finish(new LeanError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header'));
      return;
    }
    if (this.opts.chunked) this.socket.write('0\r\n\r\n', 'latin1');
    this.opts.progress();
    this.finish(null);
  }

  private finish(err: Error | null): void {
    if (this.stopped) return;
    this.stop();
    this.opts.done(err);
  }
}
