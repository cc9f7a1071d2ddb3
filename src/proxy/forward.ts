import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledRoute } from '../server/router.js';
import type { Logger } from '../observability/logger.js';
import { FULL } from '../upstream/backend.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import { upstreamRequestHeaders, type ForwardFacts } from './headers.js';
import { mayRetry, replayableLength } from './retry-policy.js';
import { hashKeyOf, rawHeader } from './request-keys.js';

/** Whether the client announced a body (a Content-Length above zero, or any Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  // HTTP/2: a request without a body ends its stream with the headers.
  if (req.httpVersionMajor === 2) return !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 14 && n.toLowerCase() === 'content-length') return raw[i + 1] !== '0';
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/**
 * The terminal step of every request: choose a server (sticky, balanced, or queued), send the
 * request and stream the answer back. Retriable requests with a small body have it read into
 * memory first so a retry can send it again; other bodies stream straight through.
 */
export function forward(req: IncomingMessage, res: ServerResponse, target: string, route: CompiledRoute, facts: ForwardFacts, logger: Logger, owner: ExchangeOwner): void {
  const backend = route.backend;
  const bodied = hasBody(req);
  let retriable = backend.config.retries.attempts > 0 && mayRetry(req, target, route.retry);
  const replayLength = bodied && retriable ? replayableLength(req) : undefined;
  if (bodied && replayLength === undefined) retriable = false;
  const sticky = backend.sticky;
  const stickyCookie = sticky ? sticky.read(rawHeader(req, 'cookie'), Date.now()) : undefined;
  const exchange = new Exchange({
    req,
    res,
    requestId: facts.requestId,
    route,
    target,
    headers: upstreamRequestHeaders(req, facts),
    body: bodied ? req : null,
    retriable,
    hashKey: backend.config.hash ? hashKeyOf(req, backend.config.hash.key, facts.clientAddress) : undefined,
    stickyName: stickyCookie?.server,
    stickyRefresh: stickyCookie !== undefined && sticky!.needsRefresh(stickyCookie.expiresAt, Date.now()),
    secure: facts.proto === 'https',
    hsts: facts.hsts,
    http2: facts.http2,
    logger,
    owner,
  });
  if (replayLength !== undefined) {
    readBody(req, replayLength).then(
      (body) => place(exchange, body),
      () => req.destroy(),
    );
    return;
  }
  place(exchange, undefined);
}

function place(exchange: Exchange, body: Buffer | undefined): void {
  if (body) exchange.replaceBody(body);
  const backend = exchange.backend;
  const server = backend.select(exchange.stickyName, exchange.hashKey, undefined);
  if (server === undefined) return exchange.fail('AIRGATE_ERR_NO_SERVER');
  if (server !== FULL) return exchange.start(server);
  if (!backend.queue.enqueue(exchange)) exchange.fail('AIRGATE_ERR_QUEUE_FULL');
}

function readBody(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > length) reject(new Error('body longer than its Content-Length'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
