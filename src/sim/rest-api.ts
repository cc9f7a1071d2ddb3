import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJson, sendJson, sendProblem } from './http-util.js';
import type { AirflowState } from './state.js';
import type { LineStreamer } from './sim-endpoints.js';

/** One REST API request with what answering it needs. */
export interface RestApiCall {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  /** 1: `/api/v1` (Airflow 2), 2: `/api/v2` (Airflow 3). */
  version: 1 | 2;
  state: AirflowState;
  /** The authenticated user (already checked by the caller's auth backend). */
  user: string;
  streamer: LineStreamer;
}

/**
 * The part of Airflow's REST API the gateway cares about, for both `/api/v1` (Airflow 2) and
 * `/api/v2` (Airflow 3): DAG list and detail, pause, trigger (409 on a duplicate run id) and
 * task logs (JSON, or streamed text/plain / ndjson).
 */
export async function restApi(call: RestApiCall): Promise<void> {
  const { req, res, path, version, state, user, streamer } = call;
  const parts = path.split('/').filter(Boolean).slice(2).map(decodeURIComponent); // drop "api", "v1"
  const method = req.method ?? 'GET';
  if (parts[0] === 'version') return sendJson(res, 200, { version: version === 1 ? '2.10.3' : '3.1.0', git_version: null });
  if (parts[0] !== 'dags') return sendProblem(res, 404, 'Not Found', `Unknown endpoint ${path}`);
  if (parts.length === 1) {
    if (method === 'GET') return sendJson(res, 200, { dags: [...state.dags.values()], total_entries: state.dags.size });
    return sendProblem(res, 405, 'Method Not Allowed', null);
  }
  const dag = state.dags.get(parts[1]!);
  if (!dag) return sendProblem(res, 404, 'DAG not found', `DAG with dag_id: '${parts[1]}' not found`);
  if (parts.length === 2) {
    if (method === 'GET') return sendJson(res, 200, dag);
    if (method === 'PATCH') {
      const body = (await readJson(req)) as { is_paused?: boolean } | undefined;
      if (typeof body?.is_paused === 'boolean') dag.is_paused = body.is_paused;
      return sendJson(res, 200, dag);
    }
    if (method === 'DELETE') {
      state.dags.delete(dag.dag_id);
      res.writeHead(204).end();
      return;
    }
  }
  if (parts[2] === 'dagRuns' && parts.length === 3) {
    if (method === 'GET') {
      const runs = [...state.runs.values()].filter((r) => r.dag_id === dag.dag_id);
      return sendJson(res, 200, { dag_runs: runs, total_entries: runs.length });
    }
    if (method === 'POST') {
      const body = ((await readJson(req)) ?? {}) as { dag_run_id?: string; logical_date?: string | null; conf?: Record<string, unknown>; note?: string };
      if (version === 2 && !('logical_date' in body)) return sendJson(res, 422, { detail: [{ type: 'missing', loc: ['body', 'logical_date'], msg: 'Field required' }] });
      const logical = body.logical_date ?? new Date().toISOString();
      const runId = body.dag_run_id ?? `manual__${logical}`;
      const key = `${dag.dag_id}/${runId}`;
      if (state.runs.has(key)) return sendProblem(res, 409, 'Conflict', `DAGRun with DAG ID: '${dag.dag_id}' and DAGRun ID: '${runId}' already exists`);
      const run = { dag_id: dag.dag_id, dag_run_id: runId, logical_date: logical, state: 'queued', conf: body.conf ?? {}, note: body.note ?? null, triggered_by: user };
      state.runs.set(key, run);
      return sendJson(res, 200, run);
    }
  }
  // .../dagRuns/{run}/taskInstances/{task}/logs/{try}
  if (parts[2] === 'dagRuns' && parts[4] === 'taskInstances' && parts[6] === 'logs' && parts.length === 8) {
    const accept = req.headers.accept ?? '';
    const render = (i: number) => `[2024-11-01T12:00:0${i % 10}.000+0000] {taskinstance.py:${100 + i}} INFO - log line ${i} of ${parts[5]}`;
    if (accept.includes('text/plain')) return streamer.serve(res, { lines: 5, contentType: 'text/plain', gated: false, intervalMs: 50, render: (i) => `${render(i)}\n` });
    if (accept.includes('application/x-ndjson')) {
      return streamer.serve(res, { lines: 5, contentType: 'application/x-ndjson', gated: false, intervalMs: 50, render: (i) => `${JSON.stringify({ content: render(i) })}\n`, headers: { 'airflow-continuation-token': 'eyJlbmRfb2ZfbG9nIjp0cnVlfQ' } });
    }
    return sendJson(res, 200, { continuation_token: 'eyJlbmRfb2ZfbG9nIjp0cnVlfQ', content: [1, 2, 3, 4, 5].map(render).join('\n') });
  }
  return sendProblem(res, 404, 'Not Found', `Unknown endpoint ${path}`);
}
