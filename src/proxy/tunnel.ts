import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { upstreamErrorCode } from '../core/errors.js';
import type { CompiledRoute } from '../server/router.js';
import type { UpstreamServer } from '../upstream/server.js';
import type { Backend } from '../upstream/backend.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardFacts } from './headers.js';
import { rawErrorResponse } from './error-response.js';

function head(statusLine: string, headers: readonly string[]): string {
  let out = `${statusLine}\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}

/**
 * An Upgrade request (WebSocket or other) tunnelled to the upstream: once the upstream answers
 * 101, bytes flow both ways untouched until either side closes. An upstream that refuses the
 * upgrade has its ordinary answer relayed, and the connection is closed after it.
 */
class Tunnel implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private responded = false;
  private released = false;
  private readonly client: Duplex;
  private readonly clientHead: Buffer;
  private readonly requestId: string;
  private readonly server: UpstreamServer;
  private readonly backend: Backend;

  constructor(client: Duplex, clientHead: Buffer, requestId: string, server: UpstreamServer, backend: Backend) {
    this.backend = backend;
    this.client = client;
    this.clientHead = clientHead;
    this.requestId = requestId;
    this.server = server;
    server.inflight++;
    client.once('close', () => this.abortUpstream?.(new Error('client closed the connection')));
    client.on('error', () => client.destroy());
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.client.destroyed) abort(new Error('client closed the connection'));
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    this.responded = true;
    this.release();
    const client = this.client;
    client.write(head(`HTTP/1.1 ${statusCode} Switching Protocols`, clientResponseHeaders((rawHeaders ?? []) as Buffer[], this.requestId, true)));
    if (this.clientHead.length > 0) upstream.write(this.clientHead);
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.pipe(client);
    client.pipe(upstream);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.responded = true;
    const headers = clientResponseHeaders(rawHeaders, this.requestId, false);
    headers.push('connection', 'close');
    return this.client.write(head(`HTTP/1.1 ${statusCode} ${statusText}`, headers));
  }

  onData(chunk: Buffer): boolean {
    return this.client.write(chunk);
  }

  onComplete(): void {
    this.release();
    this.client.end();
  }

  onError(err: Error): void {
    this.release();
    if (!this.responded) {
      if (!this.client.destroyed) this.client.end(rawErrorResponse(upstreamErrorCode(err), this.requestId));
    } else {
      this.client.destroy();
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.backend.release(this.server);
  }
}

export function tunnel(req: IncomingMessage, target: string, client: Duplex, clientHead: Buffer, route: CompiledRoute, server: UpstreamServer, facts: ForwardFacts): void {
  const handler = new Tunnel(client, clientHead, facts.requestId, server, route.backend);
  server.pool.dispatch(
    {
      path: target,
      method: 'GET',
      headers: upstreamRequestHeaders(req, facts),
      upgrade: req.headers.upgrade ?? 'websocket',
      headersTimeout: route.headersTimeout,
      body: null,
    },
    handler,
  );
}
