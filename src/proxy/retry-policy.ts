import type { IncomingMessage } from 'node:http';
import type { RetryCondition } from '../config/schema.js';
import type { ErrorCode } from '../core/errors.js';
import type { Backend } from '../upstream/backend.js';
import type { UpstreamServer } from '../upstream/server.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Airflow's dag-run triggers: REST `POST /api/v1|v2/dags/{dag_id}/dagRuns` and the Airflow 2 UI's `POST /dags/{dag_id}/trigger` and `POST /trigger` (a replay would run the DAG twice). */
const DAG_RUN_TRIGGER = /^\/(?:api\/v[12]\/dags\/[^/?]+\/dagRuns|dags\/[^/?]+\/trigger|trigger)\/?(?:\?|$)/i;

/** Bodies up to this size are kept in memory so a retry can send them again (Airflow's own limit is 1 MB). */
export const REPLAYABLE_BODY_BYTES = 1_048_576;

export interface RouteRetry {
  methods: readonly string[];
  dag_run_triggers: boolean;
}

/** Whether a request may be sent again after a failed attempt (before any answer byte reached the client). */
export function mayRetry(req: IncomingMessage, target: string, route: RouteRetry): boolean {
  const method = req.method ?? 'GET';
  if (IDEMPOTENT.has(method)) return true;
  if (!route.methods.includes(method)) return false;
  return route.dag_run_triggers || !(method === 'POST' && DAG_RUN_TRIGGER.test(target));
}

/** The retry condition an upstream failure falls under. */
export function conditionOf(code: ErrorCode): RetryCondition | undefined {
  switch (code) {
    case 'AIRGATE_ERR_UPSTREAM_CONNECT':
    case 'AIRGATE_ERR_UPSTREAM_CONNECT_TIMEOUT':
    case 'AIRGATE_ERR_UPSTREAM_TLS':
      return 'connect-failure';
    case 'AIRGATE_ERR_UPSTREAM_RESET':
    case 'AIRGATE_ERR_UPSTREAM_PROTOCOL':
      return 'reset-before-response';
    case 'AIRGATE_ERR_UPSTREAM_TIMEOUT':
      return 'timeout';
    default:
      return undefined;
  }
}

/** A Content-Length small enough to buffer for replay, or undefined (no length, or too large). */
export function replayableLength(req: IncomingMessage): number | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') return undefined;
  }
  const len = Number(req.headers['content-length']);
  return Number.isInteger(len) && len <= REPLAYABLE_BODY_BYTES ? len : undefined;
}

/** Whether the backend's policy lets a request that failed `retries` times retry on `condition`, within its retry budget. */
export function retryAllowed(backend: Backend, retries: number, condition: string): boolean {
  const policy = backend.config.retries;
  if (retries >= policy.attempts || !(policy.on as readonly string[]).includes(condition)) return false;
  return backend.budget.tryRetry(backend.clock.now());
}

/** Whether a server not tried yet could take a retry now (checked before dropping an answer). */
export function hasAlternative(backend: Backend, current: UpstreamServer | undefined, tried: readonly UpstreamServer[] | undefined): boolean {
  const now = backend.clock.now();
  return backend.servers.some((s) => s !== current && s.available(now) && s.hasCapacity() && !tried?.includes(s));
}
