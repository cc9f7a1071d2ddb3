import { pino, type Logger } from 'pino';
import type { AirgateConfig } from '../config/schema.js';
import type { RequestRecord } from './request-record.js';
import { openDestination, ownsStream, type Destination } from './destination.js';

type Rule = { methods: readonly string[]; re: RegExp; action: (method: string, m: RegExpExecArray, query: URLSearchParams) => string; resource: (m: RegExpExecArray, query: URLSearchParams) => Record<string, string> };

const CRUD: Record<string, string> = { POST: 'create', PATCH: 'update', PUT: 'update', DELETE: 'delete' };
const dag = (m: RegExpExecArray) => ({ dag_id: decodeURIComponent(m[1]!) });

/**
 * The state-changing Airflow actions worth an audit line, on Airflow 2 (`/api/v1`, the FAB UI)
 * and Airflow 3 (`/api/v2`) paths. Compiled once; matched only for non-GET requests.
 */
const RULES: Rule[] = [
  { methods: ['POST'], re: /^\/api\/v[12]\/dags\/([^/]+)\/dagRuns\/?$/, action: () => 'dag_run.trigger', resource: dag },
  { methods: ['POST'], re: /^\/dags\/([^/]+)\/trigger\/?$/, action: () => 'dag_run.trigger', resource: dag },
  { methods: ['POST'], re: /^\/trigger\/?$/, action: () => 'dag_run.trigger', resource: (_m, q) => ({ dag_id: q.get('dag_id') ?? '' }) },
  { methods: ['PATCH'], re: /^\/api\/v[12]\/dags\/([^/]+)\/?$/, action: () => 'dag.update', resource: dag },
  { methods: ['PATCH'], re: /^\/api\/v[12]\/dags\/?$/, action: () => 'dags.update', resource: (_m, q) => ({ dag_id_pattern: q.get('dag_id_pattern') ?? '*' }) },
  { methods: ['POST'], re: /^\/paused\/?$/, action: (_x, _m, q) => (q.get('is_paused') === 'true' ? 'dag.unpause' : 'dag.pause'), resource: (_m, q) => ({ dag_id: q.get('dag_id') ?? '' }) },
  { methods: ['DELETE'], re: /^\/api\/v[12]\/dags\/([^/]+)\/?$/, action: () => 'dag.delete', resource: dag },
  { methods: ['POST'], re: /^\/delete\/?$/, action: () => 'dag.delete', resource: (_m, q) => ({ dag_id: q.get('dag_id') ?? '' }) },
  { methods: ['PATCH'], re: /^\/api\/v[12]\/dags\/([^/]+)\/dagRuns\/([^/]+)\/?$/, action: () => 'dag_run.update', resource: (m) => ({ ...dag(m), dag_run_id: decodeURIComponent(m[2]!) }) },
  { methods: ['DELETE'], re: /^\/api\/v[12]\/dags\/([^/]+)\/dagRuns\/([^/]+)\/?$/, action: () => 'dag_run.delete', resource: (m) => ({ ...dag(m), dag_run_id: decodeURIComponent(m[2]!) }) },
  { methods: ['POST'], re: /^\/api\/v[12]\/dags\/([^/]+)\/dagRuns\/([^/]+)\/clear\/?$/, action: () => 'dag_run.clear', resource: (m) => ({ ...dag(m), dag_run_id: decodeURIComponent(m[2]!) }) },
  { methods: ['POST'], re: /^\/api\/v[12]\/dags\/([^/]+)\/clearTaskInstances\/?$/, action: () => 'task_instances.clear', resource: dag },
  { methods: ['POST'], re: /^\/(?:clear|dagrun_clear)\/?$/, action: () => 'task_instances.clear', resource: (_m, q) => ({ dag_id: q.get('dag_id') ?? '' }) },
  { methods: ['POST'], re: /^\/api\/v1\/dags\/([^/]+)\/updateTaskInstancesState\/?$/, action: () => 'task_instances.mark', resource: dag },
  {
    methods: ['PATCH'],
    re: /^\/api\/v[12]\/dags\/([^/]+)\/dagRuns\/([^/]+)\/taskInstances\/([^/]+)(?:\/(-?\d+))?\/?$/,
    action: () => 'task_instance.mark',
    resource: (m) => ({ ...dag(m), dag_run_id: decodeURIComponent(m[2]!), task_id: decodeURIComponent(m[3]!) }),
  },
  // Airflow 3 backfills (routes/public/backfills.py): the DAG is in the create body; pause, unpause and cancel name the backfill (and `dag_id` when the client sends it).
  { methods: ['POST'], re: /^\/api\/v2\/backfills\/?$/, action: () => 'backfill.create', resource: (_m, q) => ({ dag_id: q.get('dag_id') ?? '' }) },
  {
    methods: ['PUT'],
    re: /^\/api\/v2\/backfills\/([^/]+)\/(pause|unpause|cancel)\/?$/,
    action: (_x, m) => `backfill.${m[2]}`,
    resource: (m, q) => ({ backfill_id: decodeURIComponent(m[1]!), ...(q.get('dag_id') ? { dag_id: q.get('dag_id')! } : {}) }),
  },
  {
    methods: ['POST', 'PATCH', 'PUT', 'DELETE'],
    re: /^\/api\/v[12]\/(variables|connections|pools)(?:\/([^/]+))?\/?$/,
    action: (method, m) => `${m[1]!.slice(0, -1)}.${CRUD[method]}`,
    resource: (m): Record<string, string> => (m[2] ? { key: decodeURIComponent(m[2]) } : {}),
  },
];

/** The audit action of a request, or undefined (GETs and everything else). */
export function matchAudit(method: string, target: string): RequestRecord['audit'] {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  for (const r of RULES) {
    if (!r.methods.includes(method)) continue;
    const m = r.re.exec(path);
    if (m) {
      const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
      return { action: r.action(method, m, query), resource: r.resource(m, query) };
    }
  }
  return undefined;
}

/**
 * Refine an action from a small JSON request body: a DAG PATCH with `is_paused` is a pause or
 * unpause; a trigger names its run.
 */
export function refineAudit(audit: NonNullable<RequestRecord['audit']>, body: Buffer): void {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    // An Airflow 2 UI form (`/clear`, `/dagrun_clear`, `/delete`, `/paused`): the DAG is in the form body.
    if (audit.resource.dag_id === '') audit.resource.dag_id = new URLSearchParams(body.toString('utf8')).get('dag_id') ?? '';
    return;
  }
  if (!json || typeof json !== 'object') return;
  const b = json as Record<string, unknown>;
  if ((audit.action === 'dag.update' || audit.action === 'dags.update') && typeof b.is_paused === 'boolean') audit.action = audit.action.replace('update', b.is_paused ? 'pause' : 'unpause');
  if (audit.action === 'dag_run.trigger' && typeof b.dag_run_id === 'string') audit.resource.dag_run_id = b.dag_run_id;
  if (audit.action === 'backfill.create' && typeof b.dag_id === 'string') audit.resource.dag_id = b.dag_id;
  if (audit.action === 'dag_run.update' && typeof b.state === 'string') audit.resource.state = b.state;
  if (audit.action === 'task_instance.mark' && typeof b.new_state === 'string') audit.resource.state = b.new_state;
}

/** An operator's change to the gateway itself, made through the admin API (or a signal). */
export interface OperatorAction {
  /** `server.drain`, `server.ready`, `server.maint`, `server.weight`, `config.reload`. */
  action: string;
  backend?: string;
  server?: string;
  from?: string | number;
  to?: string | number;
  /** Who: the name the operator gave (dashboard sign-in, `airgate backend --as`, X-Airgate-Operator), or null. */
  user: string | null;
  /** How they proved it: `admin-token` (bearer), `admin-cookie` (dashboard), `signal` (SIGHUP). */
  auth: 'admin-token' | 'admin-cookie' | 'signal';
  client: string | null;
  success: boolean;
  errors?: string[];
}

/** A separate stream of who did what to which DAG, with Airflow's answer; and of operators' changes to the gateway. */
export class AuditLog {
  private readonly logger: Logger;
  private readonly destination: Destination;
  private readonly ownDestination: boolean;
  /** Only files can be reopened (stdout and stderr stay as they are). */
  private readonly isFile: boolean;
  /** Files and syslog are closed with the log; stdout and stderr stay open. */
  private readonly ends: boolean;

  constructor(cfg: AirgateConfig['audit_log'], destination?: Destination) {
    this.destination = destination ?? openDestination(cfg.destination, 'audit');
    this.ownDestination = destination === undefined;
    this.ends = this.ownDestination && ownsStream(cfg.destination);
    this.isFile = this.ownDestination && cfg.destination.startsWith('/');
    this.logger = pino({ base: null, timestamp: false, messageKey: 'msg' }, this.destination);
  }

  write(r: RequestRecord, a: NonNullable<RequestRecord['audit']>): void {
    this.logger.info({
      type: 'audit',
      time: new Date(r.time).toISOString(),
      request_id: r.id,
      action: a.action,
      ...a.resource,
      user: r.user ?? null,
      auth: r.auth ?? 'none',
      client: r.client,
      method: r.method,
      path: r.path,
      status: r.status,
      success: r.status > 0 && r.status < 400,
      server: r.server || null,
    });
  }

  operator(a: OperatorAction): void {
    this.logger.info({ type: 'audit', time: new Date().toISOString(), ...a });
  }

  reopen(): void {
    if (this.isFile) this.destination.reopen();
  }

  close(): void {
    if (!this.ownDestination) return;
    try {
      this.destination.flushSync();
    } catch {
      /* not open yet */
    }
    if (this.ends) this.destination.end();
  }
}
