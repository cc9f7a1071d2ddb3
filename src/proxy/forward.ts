import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { CompiledRoute } from '../server/router.js';
import type { UpstreamServer } from '../upstream/server.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import type { Logger } from '../observability/logger.js';
import { upstreamRequestHeaders, type ForwardFacts } from './headers.js';

/** Whether the client announced a body (a Content-Length above zero, or any Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 14 && n.toLowerCase() === 'content-length') return raw[i + 1] !== '0';
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/** The terminal step of every request: send it to `server` and stream the answer back. */
export function forward(req: IncomingMessage, res: ServerResponse, target: string, route: CompiledRoute, server: UpstreamServer, facts: ForwardFacts, logger: Logger, owner: ExchangeOwner): void {
  const exchange = new Exchange(req, res, facts.requestId, server, route.requestTimeout, logger, owner);
  const opts: Dispatcher.DispatchOptions = {
    path: target,
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamRequestHeaders(req, facts),
    body: hasBody(req) ? req : null,
    headersTimeout: route.headersTimeout,
    bodyTimeout: route.bodyTimeout,
  };
  server.pool.dispatch(opts, exchange);
}
