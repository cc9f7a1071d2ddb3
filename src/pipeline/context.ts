import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Identity } from '../auth/identity.js';
import type { ErrorCode } from '../core/errors.js';
import type { ErrorExtras } from '../proxy/error-response.js';
import type { RequestRecord } from '../observability/request-record.js';
import type { DagScope } from '../policy/dag-sources.js';
import type { CompiledRoute } from '../server/router.js';
import type { Runtime } from '../server/runtime.js';

/** What a request knows of the listener it arrived on (fixed per listener and reload). */
export interface ListenerFacts {
  readonly name: string;
  readonly proto: 'http' | 'https';
  /** The bound port, as text (X-Forwarded-Port). */
  readonly port: string;
  /** Strict-Transport-Security value for responses, if the listener sets one. */
  readonly hsts: string | undefined;
  readonly dropUnderscoreHeaders: boolean;
  readonly bodyIdleMs: number;
  readonly bodyMinRate: number;
}

/** A WebSocket upgrade's raw connection, handed to the tunnel once every check has passed. */
export interface TunnelSocket {
  readonly socket: Duplex;
  readonly head: Buffer;
}

/**
 * One request as every filter sees it, built once at entry and never changed: a filter that
 * learns something returns a new context (`learn(ctx, { route })`, stage-context.ts), so what an earlier filter
 * decided cannot be patched by a later one. The response and the record are the two mutable
 * things a request owns: the record is the observability tap (logs, metrics), not an input to
 * any decision.
 */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: RequestRecord;
  readonly runtime: Runtime;
  readonly listener: ListenerFacts;
  readonly id: string;
  readonly method: string;
  /** The Host as the client sent it (or the absolute-form authority), for redirects and forwarding. */
  readonly hostHeader: string | undefined;
  /** The canonical host: lower case, no port, no trailing dot. What routes, policy and limits compare. */
  readonly host: string;
  /** Set when the client used absolute-form (`GET http://host/path`): the Host sent upstream. */
  readonly absoluteHost: string | undefined;
  /** The normalized path and query, the one thing both judged and forwarded. */
  readonly target: string;
  readonly path: string;
  /** `?…` or ''. */
  readonly query: string;
  /** The address that connected (the PROXY header's source when there is one). */
  readonly peer: string;
  /** The real client: the peer, or the rightmost untrusted hop of the whole X-Forwarded-For chain behind a trusted peer. */
  readonly client: string;
  readonly trustXff: boolean;
  /**
   * The scheme the client used: the listener's, or `https` when a trusted proxy terminated TLS in
   * front of airgate and said so (`X-Forwarded-Proto: https`). It decides Secure cookies, redirect
   * URIs, HSTS and the X-Forwarded-Proto sent upstream.
   */
  readonly proto: 'http' | 'https';
  /** Strict-Transport-Security for this request's responses (the listener's, or `forwarded_hsts` behind a TLS proxy). */
  readonly hsts: string | undefined;
  readonly http2: boolean;
  /** A WebSocket upgrade (tunnelled if every check passes), or undefined for an ordinary request. */
  readonly tunnel: TunnelSocket | undefined;
  /** Whether the request announced a body. */
  readonly bodied: boolean;
}

/** After the route filter. */
export interface Routed extends RequestContext {
  readonly route: CompiledRoute;
  /** A configured public path on a route that authenticates or judges: identity and policy are skipped. */
  readonly isPublic: boolean;
}

/** After authentication: the identity, decided once here, never guessed again. */
export interface Authenticated extends Routed {
  /** Verified by airgate (session or bearer JWT); undefined on routes that do not authenticate. */
  readonly identity: Identity | undefined;
  /** The headers that carry the verified identity to Airflow (flat `[name, value, …]`), with the signed assertion. */
  readonly upstreamIdentity: readonly string[] | undefined;
  /** Who the request claims to be where airgate does not verify (Basic user, a bearer's sub), for the logs only. */
  readonly claimed: { readonly user: string | undefined; readonly auth: string | undefined };
  /** A renewed session cookie for the client. */
  readonly setCookie: string | undefined;
  /** The request body, when a filter had to read it whole (DAG ids, login user); forwarded as is. */
  readonly body: Buffer | undefined;
  /** The DAGs the request is about, once known (policy). */
  readonly dags: DagScope | undefined;
  /** A POST to Airflow's login form or token endpoint (login protection counts its answer). */
  readonly loginAttempt: boolean;
}

/** A filter's refusal: the gateway answers with this error and the request goes no further. */
export class Refusal {
  readonly code: ErrorCode;
  readonly extras: ErrorExtras | undefined;
  constructor(code: ErrorCode, extras?: ErrorExtras) {
    this.code = code;
    this.extras = extras;
  }
}

/** The filter answered the client itself (a login redirect, a gateway endpoint). */
export const ANSWERED = Symbol('airgate.answered');
export type Answered = typeof ANSWERED;

/** What a filter returns: the (possibly enriched) context to go on with, a refusal, or "answered". */
export type Verdict<T> = T | Refusal | Answered;
export type Filter<I, O> = (ctx: I) => Verdict<O> | Promise<Verdict<O>>;
