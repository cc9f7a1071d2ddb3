import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { GatewayError } from '../core/errors.js';
import type { ListenerFacts } from '../pipeline/context.js';

/**
 * Receive a request body before a server is chosen: whole when it fits in `bufferBytes` (a
 * Buffer), else a stream that replays what was read and continues with the rest. A body that
 * stalls for the listener's `client_body_idle` rejects with 408.
 */
export function receiveBody(req: IncomingMessage, bufferBytes: number, listener: ListenerFacts): Promise<Buffer | Readable> {
  const announced = Number(req.headers['content-length']);
  if (bufferBytes === 0 || (Number.isInteger(announced) && announced > bufferBytes)) return Promise.resolve(req);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stop();
        req.pause();
        reject(new GatewayError('AIRGATE_ERR_BODY_TIMEOUT'));
      }, listener.bodyIdleMs);
      timer.unref();
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      arm();
      if (size > bufferBytes) {
        // Larger than the buffer (a chunked upload): replay what was read, then stream the rest.
        stop();
        req.pause();
        const rest = new PassThrough();
        for (const chunk of chunks) rest.write(chunk);
        req.pipe(rest);
        req.once('error', (err) => rest.destroy(err));
        req.once('aborted', () => rest.destroy(new Error('the client aborted the request')));
        resolve(rest);
      }
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const onAborted = () => {
      stop();
      reject(new Error('the client aborted the request'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
    arm();
  });
}

/** What the body watchdog can stop. */
export interface Abortable {
  abort(reason: Error): void;
  readonly waiting: boolean;
}

/**
 * Watch a request body that streams to Airflow: once per `client_body_idle`, it must have
 * advanced by at least `client_body_min_rate` bytes per second (and by something at all), or the
 * request ends with 408 and its upstream slot is freed. HTTP/1 only: an HTTP/2 stream is bounded
 * by its own flow control and the session's idle timeout.
 */
export function watchBody(req: IncomingMessage, listener: ListenerFacts, exchange: Abortable): void {
  const socket = req.socket;
  if (!socket || (req as { stream?: unknown }).stream !== undefined) return;
  let last = socket.bytesRead;
  const minBytes = Math.max(1, Math.floor((listener.bodyMinRate * listener.bodyIdleMs) / 1000));
  const timer = setInterval(() => {
    if (req.complete || !exchange.waiting) return clearInterval(timer);
    const now = socket.bytesRead;
    if (now - last < minBytes) {
      clearInterval(timer);
      exchange.abort(new GatewayError('AIRGATE_ERR_BODY_TIMEOUT'));
      return;
    }
    last = now;
  }, listener.bodyIdleMs);
  timer.unref();
  req.once('end', () => clearInterval(timer));
  req.once('close', () => clearInterval(timer));
}
