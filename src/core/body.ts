import type { Readable } from 'node:stream';
import { GatewayError } from './errors.js';

export interface BodyLimits {
  /** Largest body accepted; more answers 413. */
  maxBytes: number;
  /** Longest silence between two chunks; longer answers 408. */
  idleMs: number;
}

/**
 * Read a request body the gateway must see whole (a login form, a back-channel logout, a form
 * that names a DAG), bounded in size and in time. Rejects with a GatewayError: 413 when it is
 * larger than `maxBytes`, 408 when the client falls silent for `idleMs`. The stream is left
 * paused on error; the caller answers and closes.
 */
export function readBoundedBody(stream: Readable, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (err: Error | undefined) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
      if (err) {
        stream.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(new GatewayError('AIRGATE_ERR_BODY_TIMEOUT')), limits.idleMs);
      timer.unref();
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limits.maxBytes) return done(new GatewayError('AIRGATE_ERR_BODY_TOO_LARGE'));
      chunks.push(c);
      arm();
    };
    const onEnd = () => done(undefined);
    const onError = (err: Error) => done(err);
    const onAborted = () => done(new Error('the client aborted the request'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
    arm();
  });
}
