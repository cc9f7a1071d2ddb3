import { decodeSegment } from './normalize.js';

/**
 * Which DAGs a request is about, read from every place Airflow reads them. `ids`: the DAGs (all
 * must be allowed, any may be denied); `none`: the request is not about a DAG; `unknown`: it is
 * about DAGs the gateway cannot name (`~`, a `dag_id_pattern`, an undecodable id, a body in a
 * format Airflow parses but the gateway does not) — denied wherever a DAG rule applies.
 * `body`: the ids are in the request body, which must be read first (see `dagsFromBody`).
 */
export type DagScope =
  { readonly kind: 'none' } | { readonly kind: 'ids'; readonly ids: readonly string[] } | { readonly kind: 'unknown'; readonly why: string } | { readonly kind: 'body'; readonly query: readonly string[]; readonly emptyMeansAll: boolean };

const NONE: DagScope = Object.freeze({ kind: 'none' });
const unknown = (why: string): DagScope => ({ kind: 'unknown', why });

/** REST (`/api/v1`, `/api/v2`): `/dags/{dag_id}/…`. */
const REST_DAG = /^\/api\/v[12]\/dags\/([^/]+)(\/.*)?$/i;
/** Bulk REST calls that name their DAGs in a JSON body (`dag_ids`): `…/dags/~/dagRuns/list`, `…/taskInstances/list`. */
const REST_BODY_LIST = /^\/api\/v[12]\/dags\/~\/dagruns\/(?:~\/taskinstances\/)?list\/?$/i;
/** `PATCH /api/v1/dags?dag_id_pattern=…`: every DAG the pattern matches. */
const REST_DAGS = /^\/api\/v[12]\/dags\/?$/i;
/** Airflow 3 backfills: `dag_id` in the JSON body (POST) or the query (GET). */
const BACKFILLS = /^\/api\/v2\/backfills(\/[^/]+)?(\/.*)?$/i;
/** The UI's `/dags/{dag_id}/…` (Airflow 2 FAB views, Airflow 3 SPA pages). */
const UI_DAG = /^\/dags\/([^/]+)(\/.*)?$/i;
/** Airflow 3 private UI API paths that name a DAG (`/ui/grid/structure/{dag_id}`, `/ui/calendar/{dag_id}`…). */
const UI_API_DAG = /^\/ui\/(?:grid\/(?:structure|runs|ti_summaries)|calendar|gantt|dags)\/([^/]+)(\/.*)?$/i;

/**
 * Airflow 2 views (airflow/www/views.py) that read `dag_id` / `dag_ids` from the query or the form
 * (`request.args`, `request.form`, `request.values`). Only these take a DAG from a parameter; a
 * `?dag_id=` on any other path is not about a DAG.
 */
const PARAM_VIEWS = new Set(
  [
    'paused',
    'delete',
    'trigger',
    'clear',
    'dagrun_clear',
    'blocked',
    'dag_stats',
    'task_stats',
    'last_dagruns',
    'graph',
    'tree',
    'grid',
    'gantt',
    'duration',
    'tries',
    'landing_times',
    'calendar',
    'code',
    'dag_details',
    'rendered-templates',
    'rendered-k8s',
    'get_logs_with_metadata',
    'log',
    'redirect_to_external_log',
    'task',
    'xcom',
    'extra_links',
    'refresh',
    'success',
    'failed',
    'dagrun_success',
    'dagrun_failed',
    'dagrun_queued',
    'dagrun_details',
    'object/grid_data',
    'object/graph_data',
    'object/task_instances',
    'object/tree_data',
    'object/next_run_datasets',
    'confirm',
    'run',
    'ui/structure/structure_data',
    'ui/dags/recent_dag_runs',
  ].map((p) => `/${p}`),
);

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** DAG ids named by `dag_id` / `dag_ids` parameters (repeated parameters all count). */
function paramIds(params: URLSearchParams): string[] {
  return [...params.getAll('dag_id'), ...params.getAll('dag_ids')];
}

function pathId(raw: string): DagScope {
  const id = decodeSegment(raw);
  if (id === undefined) return unknown('the DAG id is not valid UTF-8');
  if (id === '~') return unknown('"~" stands for every DAG');
  return { kind: 'ids', ids: [id] };
}

/** The DAG scope of a request from its method, normalized path and query (`?a=b` or ''). */
export function dagScope(method: string, path: string, query: string): DagScope {
  let m = REST_DAG.exec(path);
  if (m) {
    if (m[1] === '~' && method === 'POST' && REST_BODY_LIST.test(path)) return { kind: 'body', query: [], emptyMeansAll: true };
    return pathId(m[1]!);
  }
  if (REST_DAGS.test(path)) {
    if (method === 'GET' || method === 'HEAD') return NONE; // a listing: Airflow filters it by its own permissions
    return unknown('a bulk change of every DAG matching dag_id_pattern');
  }
  m = BACKFILLS.exec(path);
  if (m) {
    const q = paramIds(new URLSearchParams(query));
    if (WRITES.has(method) && !m[1]) return { kind: 'body', query: q, emptyMeansAll: false };
    if (m[1] && m[1].toLowerCase() !== '/dry_run') return q.length > 0 ? { kind: 'ids', ids: q } : unknown('a backfill named by its id');
    return WRITES.has(method) ? { kind: 'body', query: q, emptyMeansAll: false } : q.length > 0 ? { kind: 'ids', ids: q } : NONE;
  }
  m = UI_DAG.exec(path) ?? UI_API_DAG.exec(path);
  if (m) return pathId(m[1]!);
  const view = path.length > 1 && path.endsWith('/') ? path.slice(0, -1).toLowerCase() : path.toLowerCase();
  if (!PARAM_VIEWS.has(view)) return NONE;
  const q = paramIds(new URLSearchParams(query));
  if (WRITES.has(method)) return { kind: 'body', query: q, emptyMeansAll: false };
  return q.length > 0 ? { kind: 'ids', ids: q } : NONE;
}

/**
 * Finish a `body` scope once the body is read: `dag_id` / `dag_ids` from a urlencoded form or a
 * JSON object, together with the query's. A body in another format (multipart, which Flask also
 * parses into `request.form`) cannot be judged and gives `unknown`.
 */
export function dagsFromBody(scope: { query: readonly string[]; emptyMeansAll: boolean }, contentType: string | undefined, body: Buffer): DagScope {
  const ids = [...scope.query];
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (body.length > 0) {
    if (type === 'application/x-www-form-urlencoded') ids.push(...paramIds(new URLSearchParams(body.toString('utf8'))));
    else if (type === 'application/json' || type.endsWith('+json')) {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        return unknown('the JSON body does not parse');
      }
      if (json && typeof json === 'object' && !Array.isArray(json)) {
        const o = json as Record<string, unknown>;
        for (const v of [o.dag_id, ...(Array.isArray(o.dag_ids) ? (o.dag_ids as unknown[]) : [o.dag_ids])]) {
          if (typeof v === 'string') ids.push(v);
          else if (v !== undefined && v !== null) return unknown('a DAG id in the body is not a string');
        }
      }
    } else return unknown(`a ${type || 'untyped'} body, which the gateway does not read for DAG ids`);
  }
  if (ids.length > 0) return { kind: 'ids', ids };
  return scope.emptyMeansAll ? unknown('no dag_ids: every DAG') : NONE;
}
