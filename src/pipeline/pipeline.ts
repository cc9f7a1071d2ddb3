import type { IncomingMessage, ServerResponse } from 'node:http';
import { terminationOf } from '../observability/request-record.js';
import { RequestRecord } from '../observability/request-record.js';
import type { Logger } from '../observability/logger.js';
import type { Observer } from '../observability/observer.js';
import { sendError } from '../proxy/error-response.js';
import { exchangeClosed, type ExchangeOwner } from '../proxy/exchange.js';
import { forward } from '../proxy/forward.js';
import { receiveBody } from '../proxy/request-body.js';
import { requestIdFor } from '../proxy/request-id.js';
import { tunnel } from '../proxy/tunnel.js';
import type { Runtime } from '../server/runtime.js';
import { ANSWERED, Refusal, type Authenticated, type ListenerFacts, type RequestContext, type TunnelSocket, type Verdict } from './context.js';
import { loginOutcome } from './login-guard.js';
import { normalize, scanHeaders, type HeaderFacts } from './normalize.js';
import { bodyRefusal } from './policy.js';

type TlsSocketLike = { getProtocol?: () => string | null; servername?: string | false };

/** The access log's connection fields: host, HTTP version, User-Agent, client port, TLS version and SNI. */
function describeConnection(record: RequestRecord, req: IncomingMessage, facts: HeaderFacts): void {
  record.host = facts.host;
  record.httpVersion = req.httpVersion;
  record.userAgent = facts.userAgent;
  const socket = req.socket as (typeof req.socket & TlsSocketLike) | undefined;
  record.clientPort = socket?.remotePort ?? 0;
  if (socket?.getProtocol) {
    record.tlsVersion = socket.getProtocol() ?? undefined;
    record.sni = socket.servername || undefined;
  }
}

/** What the pipeline needs from the gateway that owns it. */
export interface PipelineHost {
  readonly runtime: Runtime;
  readonly draining: boolean;
  readonly logger: Logger;
  readonly observer: Observer;
  requestStarted(): void;
  requestEnded(): void;
}

/** The gateway's own endpoints under `/_airgate/`, which never reach Airflow. */
export interface Endpoints {
  handle(ctx: RequestContext, draining: boolean): void | Promise<void>;
  /** airgate's logout, which also answers Airflow's own logout paths on SSO routes. */
  logout(ctx: RequestContext): Promise<void>;
  /** Whether `path` is one of Airflow's own logout paths. */
  isAirflowLogout(path: string): boolean;
}

const kRecord = Symbol('airgate.record');
const kPipeline = Symbol('airgate.pipeline');
type TaggedResponse = ServerResponse & { [kRecord]?: RequestRecord; [kPipeline]?: RequestPipeline };

function onResponseClose(this: TaggedResponse): void {
  const record = this[kRecord]!;
  if (!record.handedOver) this[kPipeline]!.ended(record, this);
  else exchangeClosed(this);
}

/**
 * The one way in for every request, whatever door it used (HTTP/1 request, Upgrade, HTTP/2
 * stream): normalize → (gateway endpoints) → route → authenticate → policy → login guard → rate
 * limit → forward. Each filter returns a verdict; the first refusal is answered here, in one
 * place. An exception anywhere in handling one request is that request's 500
 * (`AIRGATE_ERR_INTERNAL`, logged with its stack, counted as termination `internal`), never the
 * process's end.
 */
export class RequestPipeline implements ExchangeOwner {
  private readonly host: PipelineHost;
  private readonly endpoints: Endpoints;
  private readonly listener: () => ListenerFacts;

  constructor(host: PipelineHost, endpoints: Endpoints, listener: () => ListenerFacts) {
    this.host = host;
    this.endpoints = endpoints;
    this.listener = listener;
  }

  get observer(): Observer {
    return this.host.observer;
  }

  get logger(): Logger {
    return this.host.logger;
  }

  /** Run one request. `upgrade`: it asked for a protocol change; `tunnel`: the WebSocket connection to hand over once every check passed. */
  handle(req: IncomingMessage, res: ServerResponse, peer: string, upgrade: boolean, tunnelSocket: TunnelSocket | undefined): void {
    const gw = this.host;
    const start = performance.now();
    gw.requestStarted();
    if (gw.draining) res.shouldKeepAlive = false;
    const listener = this.listener();
    const facts = scanHeaders(req);
    const id = requestIdFor(facts.requestId);
    const record = new RequestRecord({ start, id, method: req.method ?? '', path: req.url ?? '', client: peer, listener: listener.name });
    describeConnection(record, req, facts);
    (res as TaggedResponse)[kRecord] = record;
    (res as TaggedResponse)[kPipeline] = this;
    res.on('close', onResponseClose);
    try {
      const runtime = gw.runtime;
      const ctx = normalize({ req, res, record, runtime, listener, id, peer, tunnel: tunnelSocket, upgrade, facts });
      if (ctx instanceof Refusal) {
        res.shouldKeepAlive = false;
        return this.refuse(req, res, record, ctx);
      }
      if (ctx.path.startsWith('/_airgate/')) {
        if (ctx.tunnel) return this.refuse(req, res, record, new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'The gateway endpoints take no upgrades.' }), ctx);
        const done = this.endpoints.handle(ctx, gw.draining);
        if (done) done.catch((err: unknown) => this.internal(req, res, record, err));
        return;
      }
      const routed = runtime.filters.route(ctx);
      if (routed instanceof Refusal) return this.refuse(req, res, record, routed, ctx);
      if (routed.route.auth === 'sso' && !ctx.tunnel && this.endpoints.isAirflowLogout(ctx.path)) {
        this.endpoints.logout(ctx).catch((err: unknown) => this.internal(req, res, record, err));
        return;
      }
      this.settle(runtime.filters.authenticate(routed), routed, 0);
    } catch (err) {
      this.internal(req, res, record, err);
    }
  }

  /** Go on from a filter's verdict: refuse, stop (answered), or run the checks from `next`. */
  private settle(v: Verdict<Authenticated> | Promise<Verdict<Authenticated>>, ctx: RequestContext, next: number): void {
    if (v instanceof Promise) {
      v.then(
        (w) => {
          try {
            this.settle(w, ctx, next);
          } catch (err) {
            this.internal(ctx.req, ctx.res, ctx.record, err);
          }
        },
        (err: unknown) => this.internal(ctx.req, ctx.res, ctx.record, err),
      );
      return;
    }
    if (v === ANSWERED) return;
    if (v instanceof Refusal) return this.refuse(ctx.req, ctx.res, ctx.record, v, ctx);
    const checks = v.runtime.filters.checks;
    let cur: Authenticated = v;
    for (let i = next; i < checks.length; i++) {
      const w = checks[i]!(cur);
      if (w instanceof Promise || w === ANSWERED || w instanceof Refusal) return this.settle(w, cur, i + 1);
      cur = w;
    }
    this.forward(cur);
  }

  /** The terminal step: tunnel a WebSocket, or receive the body (up to the route's buffer) and send the request to a server. */
  private forward(ctx: Authenticated): void {
    if (ctx.tunnel) {
      ctx.record.handedOver = true;
      const refused = tunnel(ctx, ctx.tunnel, (status) => this.tunnelEnded(ctx.record, status));
      if (refused) {
        ctx.record.handedOver = false;
        this.refuse(ctx.req, ctx.res, ctx.record, refused, ctx);
      }
      return;
    }
    if (ctx.body !== undefined || !ctx.bodied) {
      ctx.record.handedOver = true;
      return forward(ctx, this, ctx.body ?? null);
    }
    receiveBody(ctx.req, ctx.route.requestBuffer, ctx.listener).then(
      (body) => {
        ctx.record.handedOver = true;
        try {
          forward(ctx, this, body);
        } catch (err) {
          this.internal(ctx.req, ctx.res, ctx.record, err);
        }
      },
      (err: unknown) => {
        ctx.res.shouldKeepAlive = false;
        this.refuse(ctx.req, ctx.res, ctx.record, bodyRefusal(err), ctx);
      },
    );
  }

  /** Answer a refusal: the gateway's error page or JSON, with the request id. */
  /** `ctx`: the request's context when normalize produced one (its path decides HTML or JSON, its scheme HSTS). */
  private refuse(req: IncomingMessage, res: ServerResponse, record: RequestRecord, r: Refusal, ctx?: RequestContext): void {
    record.termination = terminationOf(r.code);
    sendError(req, res, r.code, record.id, { ...r.extras, hsts: ctx ? ctx.hsts : this.listener().hsts, path: ctx?.path });
  }

  /** The per-request error boundary. */
  private internal(req: IncomingMessage, res: ServerResponse, record: RequestRecord, err: unknown): void {
    record.termination = 'internal';
    this.host.logger.error({ requestId: record.id, method: req.method, url: req.url, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'internal error while handling a request; answered 500');
    if (record.handedOver) {
      if (!res.headersSent) sendError(req, res, 'AIRGATE_ERR_INTERNAL', record.id);
      else res.destroy();
      return;
    }
    try {
      res.shouldKeepAlive = false;
      sendError(req, res, 'AIRGATE_ERR_INTERNAL', record.id, { hsts: this.listener().hsts });
    } catch {
      res.destroy();
    }
  }

  private tunnelEnded(record: RequestRecord, status: number): void {
    record.status = status;
    this.finish(record);
  }

  /** Once per request, when its response has closed: the login outcome, the logs and metrics, the gateway's count. */
  ended(record: RequestRecord, res: ServerResponse): void {
    if (record.closed) return;
    record.status = res.statusCode;
    if (!res.writableFinished && record.termination === 'ok') record.termination = 'client-abort';
    if (record.loginAttempt && record.server) {
      const keys = record.loginUser ? [`ip:${record.client}`, `user:${record.loginUser}`] : [`ip:${record.client}`];
      const guard = this.host.runtime.loginGuard;
      const outcome = loginOutcome(record.status, record.location);
      if (outcome === 'success') guard.success(keys);
      else if (outcome === 'failure') guard.failure(keys, Date.now());
    }
    this.finish(record);
  }

  private finish(record: RequestRecord): void {
    if (record.closed) return;
    record.closed = true;
    this.host.observer.finished(record, performance.now());
    this.host.requestEnded();
  }
}
