import type { Readable } from 'node:stream';
import { FULL } from '../upstream/backend.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import { upstreamRequestHeaders, type ForwardFacts } from './headers.js';
import { mayRetry } from './retry-policy.js';
import { hashKeyOf, rawHeader } from './request-keys.js';
import { matchAudit, refineAudit } from '../observability/audit.js';
import { cookieValue } from '../upstream/sticky.js';
import type { Authenticated } from '../pipeline/context.js';
import { watchBody } from './request-body.js';
import { sendsAirflow3Token } from '../pipeline/authenticate.js';

/** The facts the upstream header list is built from, for one request. */
export function forwardFacts(ctx: Authenticated, upgrading: boolean): ForwardFacts {
  return {
    requestId: ctx.id,
    peer: ctx.peer,
    trustXff: ctx.trustXff,
    proto: ctx.proto,
    port: ctx.listener.port,
    upstreamHost: ctx.absoluteHost,
    upgrading,
    dropUnderscore: ctx.listener.dropUnderscoreHeaders,
    // Airflow 3 gets airgate's token in place of the client's; elsewhere a verified bearer token is kept only when the route says so.
    dropAuthorization: ctx.identity !== undefined && (sendsAirflow3Token(ctx.route) || (ctx.identity.method === 'bearer' && !ctx.route.forwardAuthorization)),
    identity: ctx.upstreamIdentity,
  };
}

/**
 * The terminal step of every request: choose a server (sticky, balanced, or queued), send the
 * request and stream the answer back. `body`: a body received whole (replayable, so a retry
 * may send it again), the live stream (watched for stalls and a minimum rate), or none.
 */
export function forward(ctx: Authenticated, owner: ExchangeOwner, body: Buffer | Readable | null): void {
  ctx.record.audit = matchAudit(ctx.method, ctx.target);
  const exchange = start(ctx, owner, body);
  if (exchange && body !== null && !(body instanceof Buffer)) watchBody(ctx.req, ctx.listener, exchange);
}

function start(ctx: Authenticated, owner: ExchangeOwner, body: Buffer | Readable | null): Exchange | undefined {
  const { record } = ctx;
  if (body instanceof Buffer) {
    record.readMs = ctx.bodied ? performance.now() - record.start : 0;
    record.bytesIn = body.length;
    if (record.audit) refineAudit(record.audit, body);
  } else if (body === null) record.readMs = 0;
  else {
    const before = ctx.req.socket?.bytesRead ?? 0;
    ctx.req.once('end', () => {
      record.readMs = performance.now() - record.start;
      record.bytesIn = Number(ctx.req.headers['content-length']) || (ctx.req.socket?.bytesRead ?? before) - before;
    });
  }
  const retriable = ctx.route.backend.config.retries.attempts > 0 && (body === null || body instanceof Buffer) && mayRetry(ctx.req, ctx.target, ctx.route.retry);
  const exchange = new Exchange(exchangeInit(ctx, owner, body, retriable));
  const backend = ctx.route.backend;
  const server = backend.select(exchange.stickyName, exchange.hashKey, undefined);
  if (server === undefined) return void exchange.fail('AIRGATE_ERR_NO_SERVER');
  if (server !== FULL) {
    exchange.start(server);
    return exchange;
  }
  exchange.queued();
  if (!backend.queue.enqueue(exchange)) exchange.fail('AIRGATE_ERR_QUEUE_FULL');
  return exchange;
}

function exchangeInit(ctx: Authenticated, owner: ExchangeOwner, body: Buffer | Readable | null, retriable: boolean): ConstructorParameters<typeof Exchange>[0] {
  const { req, route } = ctx;
  const backend = route.backend;
  const cookies = rawHeader(req, 'cookie');
  const sticky = backend.sticky;
  const stickyCookie = sticky ? sticky.read(cookies, Date.now()) : undefined;
  return {
    ctx,
    headers: upstreamRequestHeaders(req.rawHeaders, forwardFacts(ctx, false), ctx.runtime.headerRules),
    body,
    retriable,
    hashKey: backend.config.hash ? hashKeyOf(req, backend.config.hash.key, ctx.client, ctx.identity?.user) : undefined,
    stickyName: stickyCookie?.server,
    stickyRefresh: sticky !== undefined && stickyCookie !== undefined && sticky.needsRefresh(stickyCookie.expiresAt, Date.now()),
    sessionKey: cookies !== undefined && cookies.includes('session=') ? cookieValue(cookies, 'session=')?.slice(0, 48) : undefined,
    owner,
  };
}
