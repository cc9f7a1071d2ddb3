import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { upstreamErrorCode } from '../core/errors.js';
import type { Lease, UpstreamServer } from '../upstream/server.js';
import type { Backend } from '../upstream/backend.js';
import { FULL } from '../upstream/backend.js';
import type { Authenticated, TunnelSocket } from '../pipeline/context.js';
import { Refusal } from '../pipeline/context.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { rawErrorResponse } from './error-response.js';
import { forwardFacts } from './forward.js';
import type { RawFields } from '../upstream/lean/pending.js';

function head(statusLine: string, headers: readonly string[]): string {
  let out = `${statusLine}\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}

/**
 * A WebSocket upgrade tunnelled to the upstream, after every check an ordinary request passes:
 * once the upstream answers 101, bytes flow both ways untouched until either side closes. The
 * tunnel holds its server's connection slot (`max_connections`) until it closes. An upstream that
 * refuses the upgrade has its ordinary answer relayed, and the connection is closed after it.
 */
class Tunnel implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  /** Resumes a refused upgrade's answer once the client has drained (held while the client is slow). */
  private resumeUpstream: (() => void) | undefined;
  private responded = false;
  /** The server's connection slot, held until the tunnel closes. */
  private readonly lease: Lease;
  private readonly client: Duplex;
  private readonly clientHead: Buffer;
  private readonly requestId: string;

  private readonly done: (status: number) => void;

  constructor(t: TunnelSocket, requestId: string, server: UpstreamServer, backend: Backend, done: (status: number) => void) {
    const client = t.socket;
    this.client = client;
    this.clientHead = t.head;
    this.requestId = requestId;
    this.done = done;
    this.lease = backend.acquire(server);
    client.once('close', () => {
      this.abortUpstream?.(new Error('client closed the connection'));
      this.lease.release();
      this.done(this.status);
    });
    client.on('error', () => client.destroy());
    client.on('drain', () => this.resumeUpstream?.());
  }

  private status = 0;

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.client.destroyed) abort(new Error('client closed the connection'));
  }

  onUpgrade(statusCode: number, rawHeaders: RawFields | null, upstream: Duplex): void {
    this.responded = true;
    this.status = statusCode;
    const client = this.client;
    client.write(head(`HTTP/1.1 ${statusCode} Switching Protocols`, clientResponseHeaders(rawHeaders ?? [], this.requestId, true)));
    if (this.clientHead.length > 0) upstream.write(this.clientHead);
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    // A WebSocket has no half-close: once either side has ended, the other is told (FIN) and the
    // tunnel closes, so a gone client never keeps its server's slot.
    const both = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.pipe(client, { end: false });
    client.pipe(upstream, { end: false });
    client.once('end', () => upstream.end(both));
    upstream.once('end', () => client.end(both));
  }

  onHeaders(statusCode: number, rawHeaders: RawFields, resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.responded = true;
    this.resumeUpstream = resume;
    this.status = statusCode;
    const headers = clientResponseHeaders(rawHeaders, this.requestId, false);
    headers.push('connection', 'close');
    return this.client.write(head(`HTTP/1.1 ${statusCode} ${statusText}`, headers));
  }

  onData(chunk: Buffer): boolean {
    return this.client.write(chunk);
  }

  onComplete(): void {
    this.lease.release();
    this.client.end();
  }

  onError(err: Error): void {
    this.lease.release();
    if (!this.responded) {
      const code = upstreamErrorCode(err);
      this.status = 502;
      if (!this.client.destroyed) this.client.end(rawErrorResponse(code, this.requestId));
    } else {
      this.client.destroy();
    }
  }
}

/**
 * Hand a checked WebSocket upgrade to a server: the raw connection leaves the HTTP machinery
 * here. `done` is told the status once the client's connection has closed.
 */
export function tunnel(ctx: Authenticated, t: TunnelSocket, done: (status: number) => void): Refusal | undefined {
  const route = ctx.route;
  const server = route.backend.select(undefined, undefined, undefined);
  if (!server || server === FULL) return new Refusal(server === FULL ? 'AIRGATE_ERR_QUEUE_FULL' : 'AIRGATE_ERR_NO_SERVER');
  ctx.record.server = server.name;
  ctx.res.detachSocket(t.socket as import('node:net').Socket);
  const handler = new Tunnel(t, ctx.id, server, route.backend, done);
  // undici sets Upgrade and Connection itself (`upgrade` below); the client's are not forwarded.
  const facts = { ...forwardFacts(ctx, false), upstreamHost: route.preserveHost ? ctx.absoluteHost : server.url.host };
  server.pool.dispatch(
    {
      path: ctx.target,
      method: 'GET',
      headers: upstreamRequestHeaders(ctx.req.rawHeaders, facts, ctx.runtime.headerRules),
      upgrade: 'websocket',
      headersTimeout: route.headersTimeout,
      body: null,
    },
    handler,
  );
  return undefined;
}
