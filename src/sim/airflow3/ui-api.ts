import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AirflowState } from '../state.js';
import { detail, sendJson3 } from './respond.js';

/**
 * The private UI API routes that name a DAG (airflow-core/src/airflow/api_fastapi/core_api/routes/ui/
 * grid.py and calendar.py): `/ui/grid/structure/{dag_id}`, `/ui/grid/runs/{dag_id}`,
 * `/ui/grid/ti_summaries/{dag_id}/{run_id}`, `/ui/calendar/{dag_id}`; all need `dag` GET.
 * Returns the DAG id a path names (for the authorization check), or undefined if no route matches.
 */
export function uiDagId(path: string): string | undefined {
  const m = /^\/ui\/(?:grid\/(?:structure|runs|ti_summaries)|calendar)\/([^/]+)(?:\/[^/]+)?$/.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** Twenty tasks per DAG, so a grid structure is over 1 KB (and gzipped) as a real one is. */
const TASKS = Array.from({ length: 20 }, (_, i) => ({ id: `task_${String(i).padStart(2, '0')}`, label: `task_${String(i).padStart(2, '0')}`, is_mapped: false, children: null }));

export function uiApi(req: IncomingMessage, res: ServerResponse, path: string, state: AirflowState): void {
  const dagId = uiDagId(path)!;
  if (!state.dags.has(dagId)) return detail(req, res, 404, `Dag with id ${dagId} was not found`);
  const runs = [...state.runs.values()].filter((r) => r.dag_id === dagId);
  if (path.startsWith('/ui/grid/structure/')) return sendJson3(req, res, 200, TASKS);
  if (path.startsWith('/ui/grid/runs/'))
    return sendJson3(
      req,
      res,
      200,
      runs.map((r) => ({ dag_id: r.dag_id, run_id: r.dag_run_id, state: r.state, run_type: 'manual', logical_date: r.logical_date })),
    );
  if (path.startsWith('/ui/grid/ti_summaries/')) return sendJson3(req, res, 200, { run_id: path.split('/').pop(), dag_id: dagId, task_instances: TASKS.map((t) => ({ task_id: t.id, state: null })) });
  return sendJson3(req, res, 200, { total_entries: runs.length, dag_runs: runs.map((r) => ({ date: r.logical_date, state: r.state, count: 1 })) });
}
