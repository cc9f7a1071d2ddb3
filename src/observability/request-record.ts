import type { ErrorCode } from '../core/errors.js';

/**
 * Everything the access log, the metrics and the audit log want to know about one request,
 * filled in along the request path (plain fields, no allocation beyond the object itself).
 * Times are milliseconds from `start`; -1 means the phase did not happen.
 */
export class RequestRecord {
  readonly start: number;
  readonly time: number;
  readonly id: string;
  readonly method: string;
  readonly path: string;
  /** The real client, once the pipeline has read X-Forwarded-For (the peer until then). */
  client: string;
  readonly listener: string;
  route = '';
  backend = '';
  server = '';
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  retries = 0;
  /** Until the request body was fully received (0 without a body). */
  readMs = -1;
  /** Waiting in the backend queue. */
  queueMs = -1;
  /** From sending to the pool until a connection carried the request (0 on a pooled connection). */
  connectMs = -1;
  /** Until the answering attempt was handed to the upstream pool (after body, queue and earlier attempts). */
  dispatchMs = 0;
  /** Until the response headers arrived. */
  headersMs = -1;
  totalMs = -1;
  /** Who ended the request and how: ok, client-abort, upstream-timeout, no-route … */
  termination = 'ok';
  user: string | undefined;
  auth: string | undefined;
  policy: string | undefined;
  rule: string | undefined;
  /** A POST to Airflow's login form or token endpoint (counted by login protection). */
  loginAttempt = false;
  /** The Host the client sent (as sent), its HTTP version, User-Agent and source port. */
  host: string | undefined;
  httpVersion = '';
  userAgent: string | undefined;
  clientPort = 0;
  /** The TLS version and SNI name of the connection (TLS listeners). */
  tlsVersion: string | undefined;
  sni: string | undefined;
  /** The address (host:port) of the Airflow server that answered. */
  upstream = '';
  /** Where Airflow's answer to a login attempt redirected (a failed FAB login goes back to /login/). */
  location: string | undefined;
  /** The user name such a login tried, when the form said. */
  loginUser: string | undefined;
  /** The audit action this request performs, if any (set when it is matched). */
  audit: { action: string; resource: Record<string, string> } | undefined;
  /** Set once the record went to the logs and metrics (a request ends exactly once). */
  closed = false;
  /** The exchange or tunnel owns the end of this request from now on. */
  handedOver = false;

  constructor(init: { start: number; id: string; method: string; path: string; client: string; listener: string }) {
    this.start = init.start;
    this.time = Date.now();
    this.id = init.id;
    this.method = init.method;
    this.path = init.path;
    this.client = init.client;
    this.listener = init.listener;
  }
}

/** `AIRGATE_ERR_UPSTREAM_TIMEOUT` → `upstream-timeout`. */
export function terminationOf(code: ErrorCode): string {
  return code.slice(12).toLowerCase().replace(/_/g, '-');
}
