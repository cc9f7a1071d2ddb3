import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledRoute } from '../server/router.js';
import type { Logger } from '../observability/logger.js';
import { FULL } from '../upstream/backend.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import { upstreamRequestHeaders, type ForwardFacts } from './headers.js';
import { mayRetry, replayableLength } from './retry-policy.js';
import { hashKeyOf, rawHeader } from './request-keys.js';
import type { RequestRecord } from '../observability/request-record.js';
import type { Observer } from '../observability/observer.js';
import { matchAudit, refineAudit } from '../observability/audit.js';
import { identityHint } from '../observability/identity-hint.js';
import { cookieValue } from '../upstream/sticky.js';

/** Audit-matched request bodies up to this size are read to refine the action (pause vs unpause). */
const AUDIT_BODY_BYTES = 65_536;

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
export function forward(req: IncomingMessage, res: ServerResponse, target: string, route: CompiledRoute, facts: ForwardFacts, record: RequestRecord, logger: Logger, observer: Observer, owner: ExchangeOwner): void {
  const backend = route.backend;
  const bodied = hasBody(req);
  let retriable = backend.config.retries.attempts > 0 && mayRetry(req, target, route.retry);
  record.audit = matchAudit(req.method ?? 'GET', target);
  if (record.audit || bodied) {
    const who = identityHint(req);
    record.user = who.user;
    record.auth = who.auth;
  }
  // Bodies are read into memory first when a retry may need to send them again, or when they
  // refine an audit line (a DAG PATCH that pauses or unpauses); both are small.
  let replayLength = bodied && retriable ? replayableLength(req) : undefined;
  if (bodied && replayLength === undefined) retriable = false;
  if (bodied && replayLength === undefined && (record.audit || record.loginAttempt)) {
    const len = replayableLength(req);
    if (len !== undefined && len <= AUDIT_BODY_BYTES) replayLength = len;
  }
  const cookies = rawHeader(req, 'cookie');
  const sticky = backend.sticky;
  const stickyCookie = sticky ? sticky.read(cookies, Date.now()) : undefined;
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
    record,
    observer,
    sessionKey: cookies !== undefined && cookies.includes('session=') ? cookieValue(cookies, 'session=')?.slice(0, 48) : undefined,
    hsts: facts.hsts,
    http2: facts.http2,
    setCookie: facts.setCookie,
    logger,
    owner,
  });
  if (replayLength !== undefined) {
    readBody(req, replayLength).then(
      (body) => {
        record.readMs = performance.now() - record.start;
        record.bytesIn = body.length;
        if (record.audit) refineAudit(record.audit, body);
        if (record.loginAttempt) {
          record.loginUser = loginUserOf(body);
          const left = record.loginUser && facts.loginGuard ? facts.loginGuard.lockedFor([`user:${record.loginUser}`], Date.now()) : 0;
          if (left > 0) return exchange.failWith('AIRGATE_ERR_LOGIN_LOCKED', Math.ceil(left / 1000));
        }
        place(exchange, body);
      },
      () => req.destroy(),
    );
    return;
  }
  if (!bodied) record.readMs = 0;
  else {
    // Counting chunks would need a second consumer of the stream; the socket's byte count (body
    // plus chunk framing for chunked uploads) is close enough for the log.
    const before = req.socket.bytesRead;
    req.once('end', () => {
      record.readMs = performance.now() - record.start;
      record.bytesIn = Number(req.headers['content-length']) || req.socket.bytesRead - before;
    });
  }
  place(exchange, undefined);
}

function place(exchange: Exchange, body: Buffer | undefined): void {
  if (body) exchange.replaceBody(body);
  const backend = exchange.backend;
  const server = backend.select(exchange.stickyName, exchange.hashKey, undefined);
  if (server === undefined) return exchange.fail('AIRGATE_ERR_NO_SERVER');
  if (server !== FULL) return exchange.start(server);
  exchange.queued();
  if (!backend.queue.enqueue(exchange)) exchange.fail('AIRGATE_ERR_QUEUE_FULL');
}

/** The user name of a login form (urlencoded) or token request (JSON). */
function loginUserOf(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  if (text.startsWith('{')) {
    try {
      const u = (JSON.parse(text) as { username?: unknown }).username;
      return typeof u === 'string' ? u : undefined;
    } catch {
      return undefined;
    }
  }
  return new URLSearchParams(text).get('username') ?? undefined;
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
