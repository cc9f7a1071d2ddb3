import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfigText } from '../src/config/load.js';
import { Gateway } from '../src/server/gateway.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import { CookieJar } from './helpers/cookie-jar.js';
import { LogCapture } from './helpers/gateway.js';
import { waitFor } from './helpers/wait.js';
import type { Destination } from '../src/observability/destination.js';

test('audit log: every Airflow 2 UI action that names a DAG, sent as the UI sends it, has an audit line with its dag_id', async () => {
  const state = new AirflowState(['etl_trigger', 'etl_dagrun_clear', 'etl_clear', 'etl_paused', 'etl_delete']);
  const sim = await new SimulatedAirflow({ name: 'web-1', state }).start();
  const audit = new LogCapture();
  const gateway = new Gateway(
    loadConfigText(
      `listeners: [{ name: public, address: "127.0.0.1:0" }]
backends: { airflow: { health: { enabled: false }, servers: [{ name: web-1, url: "${sim.url}" }] } }
routes: [{ path: /, backend: airflow }]
`,
      'test.yaml',
    ),
    { logger: pino({ level: 'warn' }, new LogCapture()), observer: { accessDestination: new LogCapture() as unknown as Destination, auditDestination: audit as unknown as Destination } },
  );
  await gateway.start();
  const url = `http://127.0.0.1:${gateway.port()}`;
  const agent = new Agent();
  const jar = new CookieJar();
  const go = async (path: string, opts: { method?: string; form?: Record<string, string>; csrfHeader?: string } = {}) => {
    const headers: Record<string, string> = { cookie: jar.header() };
    if (opts.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (opts.csrfHeader) headers['x-csrftoken'] = opts.csrfHeader;
    const r = await request(`${url}${path}`, { dispatcher: agent, method: (opts.method ?? 'GET') as 'GET', headers, body: opts.form ? new URLSearchParams(opts.form).toString() : undefined });
    jar.keep(r.headers['set-cookie']);
    return { status: r.statusCode, text: await r.body.text() };
  };
  try {
    const form = await go('/login/');
    await go('/login/', { method: 'POST', form: { csrf_token: /name="csrf_token" value="([^"]+)"/.exec(form.text)![1]!, username: 'admin', password: 'admin' } });
    const csrf = /name="csrf-token" content="([^"]+)"/.exec((await go('/home')).text)![1]!;
    // As airflow/www (2.10) sends them: the trigger form posts to /dags/<id>/trigger; the clear dialogs post
    // dag_id in the form; the pause toggle posts to /paused with dag_id in the query and the token as a header;
    // the delete button posts a form.
    const sent = [
      { status: (await go('/dags/etl_trigger/trigger', { method: 'POST', form: { csrf_token: csrf, run_id: '', conf: '{}', origin: '/home' } })).status, dag: 'etl_trigger', action: 'dag_run.trigger' },
      { status: (await go('/dagrun_clear', { method: 'POST', form: { csrf_token: csrf, dag_id: 'etl_dagrun_clear', dag_run_id: 'manual__1', confirmed: 'true', origin: '/home' } })).status, dag: 'etl_dagrun_clear', action: 'task_instances.clear' },
      { status: (await go('/clear', { method: 'POST', form: { csrf_token: csrf, dag_id: 'etl_clear', dag_run_id: 'manual__1', confirmed: 'false', origin: '/home' } })).status, dag: 'etl_clear', action: 'task_instances.clear' },
      { status: (await go('/paused?is_paused=false&dag_id=etl_paused', { method: 'POST', csrfHeader: csrf })).status, dag: 'etl_paused', action: 'dag.pause' },
      { status: (await go('/delete', { method: 'POST', form: { csrf_token: csrf, dag_id: 'etl_delete', redirect_url: '/home' } })).status, dag: 'etl_delete', action: 'dag.delete' },
    ];
    assert.deepEqual(
      sent.map((s) => s.status),
      [302, 302, 200, 200, 302],
      'Airflow carried out each action',
    );
    assert.equal(state.dags.get('etl_paused')!.is_paused, true);
    assert.equal(state.dags.has('etl_delete'), false);
    assert.equal([...state.runs.values()].filter((r) => r.dag_id === 'etl_trigger').length, 1);
    await waitFor(() => audit.lines.length >= sent.length, 'one audit line per action');
    assert.deepEqual(
      audit.lines.map((l) => ({ action: l.action, dag_id: l.dag_id, success: l.success })),
      sent.map((s) => ({ action: s.action, dag_id: s.dag, success: true })),
    );
  } finally {
    await agent.close();
    await gateway.stop(0);
    await sim.stop();
  }
});
