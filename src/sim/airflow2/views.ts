import type { IncomingMessage } from 'node:http';
import { readBody } from '../http-util.js';
import type { AirflowState } from '../state.js';
import { allowed, type Need } from './fab.js';
import { csrfProblem, loginUrl, requestHost, scriptRoot } from './login.js';
import type { FabSession } from './session.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  html?: string;
  text?: string;
}

/** The UI actions that change a DAG (airflow/www/views.py, 2.9/2.10) and the permission each needs. */
const ACTIONS: readonly { re: RegExp; need: Need; run: (m: RegExpExecArray, values: URLSearchParams, state: AirflowState, user: string, session: FabSession) => Answer }[] = [
  // Airflow.trigger: POST /dags/<dag_id>/trigger creates a run, flashes, redirects to the grid.
  {
    re: /^\/dags\/([^/]+)\/trigger\/?$/,
    need: 'User',
    run: (m, v, state, user, session) => {
      const dagId = decodeURIComponent(m[1]!);
      if (!state.dags.has(dagId)) return notFound(session, dagId);
      const logical = new Date().toISOString();
      const runId = v.get('run_id') || `manual__${logical}`;
      state.runs.set(`${dagId}/${runId}`, { dag_id: dagId, dag_run_id: runId, logical_date: logical, state: 'queued', conf: JSON.parse(v.get('conf') || '{}') as Record<string, unknown>, note: null, triggered_by: user });
      session.flash(`Triggered ${dagId} with new Run ID ${runId}, it should start any moment now.`);
      return { status: 302, headers: { location: `/dags/${encodeURIComponent(dagId)}/grid` } };
    },
  },
  // Airflow.paused: `is_paused=false` (the toggle's state before the click) means pause now; answers "OK".
  {
    re: /^\/paused\/?$/,
    need: 'User',
    run: (_m, v, state) => {
      const dag = state.dags.get(v.get('dag_id') ?? '');
      if (dag) dag.is_paused = v.get('is_paused') === 'false';
      return { status: 200, text: 'OK' };
    },
  },
  // Airflow.clear and Airflow.dagrun_clear: dag_id in the form; unconfirmed → the task list, confirmed → flash and redirect.
  {
    re: /^\/(?:clear|dagrun_clear)\/?$/,
    need: 'User',
    run: (_m, v, state, _u, session) => {
      const dagId = v.get('dag_id') ?? '';
      if (!state.dags.has(dagId)) return notFound(session, dagId);
      if (v.get('confirmed') !== 'true') return { status: 200, html: JSON.stringify([{ task_id: 'extract', run_id: v.get('dag_run_id') ?? null }]) };
      session.flash('1 task instances have been cleared');
      return { status: 302, headers: { location: v.get('origin') || '/home' } };
    },
  },
  // Airflow.delete: dag_id from request.values; flashes and redirects.
  {
    re: /^\/delete\/?$/,
    need: 'User',
    run: (_m, v, state, _u, session) => {
      const dagId = v.get('dag_id') ?? '';
      if (!state.dags.delete(dagId)) return notFound(session, dagId);
      session.flash(`Deleting DAG with id ${dagId}. May take a couple minutes to fully disappear.`);
      return { status: 302, headers: { location: v.get('redirect_url') || '/' } };
    },
  },
];

function notFound(session: FabSession, dagId: string): Answer {
  session.flash(`DAG "${dagId}" seems to be missing from DagBag.`);
  return { status: 302, headers: { location: '/home' } };
}

/**
 * Any other UI request, with airflow/www/auth.py `_has_access`: no user → 302 to
 * `/login/?next=<absolute URL>` (under the `X-Forwarded-Prefix` script root, as ProxyFix makes it); a user whose role grants no website access (Public) → 403 page;
 * a user lacking the action's permission → flash "Access is Denied" and 302 to the index. A POST
 * also needs its CSRF token (Flask-WTF). GET pages show the user, the role and the DAGs.
 */
export async function uiRequest(req: IncomingMessage, url: URL, session: FabSession, state: AirflowState, node: string): Promise<Answer> {
  const user = session.user;
  const role = user === undefined ? undefined : state.users.get(user)?.role;
  if (user === undefined || role === undefined) {
    if (user !== undefined) session.clear(); // the session names a user Airflow no longer has
    const proto = req.headers['x-forwarded-proto'] ?? 'http';
    const root = scriptRoot(req);
    return { status: 302, headers: { location: loginUrl(`${proto}://${requestHost(req)}${root}${url.pathname}${url.search}`, root) } };
  }
  if (!allowed(role, 'Viewer')) return { status: 403, html: '<!doctype html><title>Airflow</title><h1>Your user has no roles and/or permissions!</h1>\n' };
  if (req.method === 'POST') {
    const body = (await readBody(req)).toString();
    const form = new URLSearchParams(body);
    const values = new URLSearchParams([...url.searchParams, ...form]); // request.values: args, then form
    const problem = csrfProblem(req, session, form);
    if (problem) return { status: 400, html: `<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>${esc(problem)}</p>\n` };
    for (const a of ACTIONS) {
      const m = a.re.exec(url.pathname);
      if (!m) continue;
      if (!allowed(role, a.need)) {
        session.flash('Access is Denied');
        return { status: 302, headers: { location: '/' } };
      }
      return a.run(m, values, state, user, session);
    }
    return { status: 405, html: '<!doctype html><title>405 Method Not Allowed</title><h1>Method Not Allowed</h1>\n' };
  }
  const flashes = session
    .takeFlashes()
    .map((f) => `<li class="flash">${esc(f)}</li>`)
    .join('');
  const dags = [...state.dags.values()].map((d) => `<li>${esc(d.dag_id)}</li>`).join('');
  return {
    status: 200,
    html: `<!doctype html><html><head><title>Airflow</title><meta name="csrf-token" content="${session.csrfToken()}"></head><body><h1>Airflow</h1>
<ul id="flashes">${flashes}</ul><p id="user">Logged in as ${esc(user)}</p><p id="role">${esc(role)}</p><p id="node">Served by ${esc(node)}</p><ul id="dags">${dags}</ul></body></html>\n`,
  };
}
