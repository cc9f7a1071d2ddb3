import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { request, Agent } from 'undici';
import parsePrometheus from 'parse-prometheus-text-format';
import { loadConfigText } from '../src/config/load.js';
import { Gateway } from '../src/server/gateway.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import { LogCapture } from './helpers/gateway.js';
import { waitFor } from './helpers/wait.js';
import { CookieJar } from './helpers/cookie-jar.js';
import { headerOf, rawExchange, statusOf } from './helpers/raw.js';
import type { Destination } from '../src/observability/destination.js';

const TOKEN = 'observability-admin-token';
const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

interface Started {
  gateway: Gateway;
  url: string;
  admin: string;
  access: LogCapture;
  audit: LogCapture;
  logs: LogCapture;
}

async function start(yaml: string): Promise<Started> {
  const access = new LogCapture();
  const audit = new LogCapture();
  const logs = new LogCapture();
  const gateway = new Gateway(loadConfigText(yaml, 'test.yaml'), {
    logger: pino({ level: 'info' }, logs),
    observer: { accessDestination: access as unknown as Destination, auditDestination: audit as unknown as Destination },
  });
  await gateway.start();
  return { gateway, url: `http://127.0.0.1:${gateway.port()}`, admin: `http://127.0.0.1:${gateway.admin?.port ?? 0}`, access, audit, logs };
}

function yaml(sims: SimulatedAirflow[], extra = '', route = ''): string {
  return `listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: ${TOKEN} }
backends:
  airflow:
    balance: round-robin
    health: { enabled: false }
${extra}
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - path: /
    backend: airflow
${route}
`;
}

const byId = (c: LogCapture, id: unknown) => c.lines.find((l) => l.request_id === id);

test('access log: timers and termination states for a normal request, a retry, an upstream timeout, a client abort and a gateway refusal', async () => {
  const sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await start(yaml(sims, '    retries: { attempts: 1, on: [connect-failure, reset-before-response, 503] }', '    timeouts: { response_headers: 300ms }'));
  const agent = new Agent();
  try {
    // normal
    const ok = await request(`${gw.url}/api/v1/dags?token=s3cr3t&limit=5`, { dispatcher: agent, headers: { authorization: BASIC } });
    const okBody = await ok.body.text();
    await waitFor(() => byId(gw.access, ok.headers['x-request-id']) !== undefined, 'the access line');
    const line = byId(gw.access, ok.headers['x-request-id'])!;
    assert.equal(line.type, 'access');
    assert.equal(line.status, 200);
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/api/v1/dags?token=[redacted]&limit=5', 'secret query values are redacted');
    assert.equal(line.termination, 'ok');
    assert.equal(line.route, '*/');
    assert.equal(line.backend, 'airflow');
    assert.ok(line.server === 'web-1' || line.server === 'web-2');
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.bytes_out, Buffer.byteLength(okBody));
    assert.equal(line.retries, 0);
    assert.equal(line.read_ms, 0);
    assert.equal(line.queue_ms, -1, 'never queued');
    for (const t of ['connect_ms', 'headers_ms', 'total_ms'] as const) assert.ok(typeof line[t] === 'number' && line[t] >= 0, `${t} measured`);
    assert.ok((line.headers_ms as number) <= (line.total_ms as number));
    assert.equal(line.authorization, undefined, 'headers are never logged');

    // retry: web-1 answers 503, the request is answered by web-2 after one retry
    sims[0]!.setFaults({ unavailable: true });
    let retried: Record<string, unknown> | undefined;
    for (let i = 0; i < 2 && !retried; i++) {
      const r = await request(`${gw.url}/health`, { dispatcher: agent });
      await r.body.dump();
      assert.equal(r.statusCode, 200);
      await waitFor(() => byId(gw.access, r.headers['x-request-id']) !== undefined, 'the access line');
      const l = byId(gw.access, r.headers['x-request-id'])!;
      if (l.retries === 1) retried = l;
    }
    assert.ok(retried, 'one of two round-robin requests hit web-1 and was retried');
    assert.equal(retried.server, 'web-2');
    assert.equal(retried.termination, 'ok');
    sims[0]!.setFaults({ unavailable: false });

    // upstream timeout
    for (const s of sims) s.setFaults({ hang: true });
    const slow = await request(`${gw.url}/health`, { dispatcher: agent });
    await slow.body.dump();
    assert.equal(slow.statusCode, 504);
    await waitFor(() => byId(gw.access, slow.headers['x-request-id']) !== undefined, 'the access line');
    const timedOut = byId(gw.access, slow.headers['x-request-id'])!;
    assert.equal(timedOut.termination, 'upstream-timeout');
    assert.equal(timedOut.status, 504);
    assert.equal(timedOut.headers_ms, -1, 'no response headers ever came');
    assert.ok((timedOut.total_ms as number) >= 290);

    // client abort
    const ac = new AbortController();
    const aborted = request(`${gw.url}/health?abort=1`, { dispatcher: agent, signal: ac.signal }).catch(() => 'aborted');
    await waitFor(() => sims.some((s) => s.hungRequests > 0), 'the request to reach a node');
    ac.abort();
    assert.equal(await aborted, 'aborted');
    await waitFor(() => gw.access.lines.some((l) => l.path === '/health?abort=1'), 'the access line');
    const abortLine = gw.access.lines.find((l) => l.path === '/health?abort=1')!;
    assert.equal(abortLine.termination, 'client-abort');
    for (const s of sims) s.setFaults({ hang: false });

    // a request the gateway refuses itself (policy denials join these with the policy issue)
    const raw = await rawExchange(gw.gateway.port(), 'GET /api/v1/dags HTTP/1.1\r\nUser-Agent: t\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(raw), 400);
    const refusedId = headerOf(raw, 'x-request-id');
    await waitFor(() => byId(gw.access, refusedId) !== undefined, 'the access line');
    const refusedLine = byId(gw.access, refusedId)!;
    assert.equal(refusedLine.termination, 'bad-request');
    assert.equal(refusedLine.status, 400);
    assert.equal(refusedLine.server, undefined, 'never reached a server');
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('audit log: who triggered which DAG run and who paused a DAG, on Airflow 2 and Airflow 3 paths, with Airflow’s answer', async () => {
  const state2 = new AirflowState();
  const v2 = await new SimulatedAirflow({ name: 'af2', state: state2 }).start();
  const v3 = await new SimulatedAirflow({ name: 'af3', airflow: 3 }).start();
  const config = `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  af2:
    health: { enabled: false }
    servers: [{ name: af2, url: ${v2.url} }]
  af3:
    airflow: 3
    health: { enabled: false }
    servers: [{ name: af3, url: ${v3.url} }]
routes:
  - { path: /, backend: af2 }
  - { path: /, host: v3.example, backend: af3 }
`;
  const gw = await start(config);
  try {
    const trigger = await request(`${gw.url}/api/v1/dags/team_a_etl/dagRuns`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/json' }, body: JSON.stringify({ dag_run_id: 'nightly-1' }) });
    assert.equal(trigger.statusCode, 200);
    await trigger.body.dump();
    const again = await request(`${gw.url}/api/v1/dags/team_a_etl/dagRuns`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/json' }, body: JSON.stringify({ dag_run_id: 'nightly-1' }) });
    assert.equal(again.statusCode, 409);
    await again.body.dump();
    const pause = await request(`${gw.url}/api/v1/dags/team_b_report?update_mask=is_paused`, { method: 'PATCH', headers: { authorization: BASIC, 'content-type': 'application/json' }, body: '{"is_paused": true}' });
    assert.equal(pause.statusCode, 200);
    await pause.body.dump();
    const tokenRes = await request(`${gw.url}/auth/token`, { method: 'POST', headers: { host: 'v3.example', 'content-type': 'application/json' }, body: '{"username":"admin","password":"admin"}' });
    const { access_token } = (await tokenRes.body.json()) as { access_token: string };
    const v3trigger = await request(`${gw.url}/api/v2/dags/example_etl/dagRuns`, {
      method: 'POST',
      headers: { host: 'v3.example', authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'v3-run', logical_date: null }),
    });
    assert.equal(v3trigger.statusCode, 200);
    await v3trigger.body.dump();
    const list = await request(`${gw.url}/api/v1/dags`, { headers: { authorization: BASIC } });
    await list.body.dump();

    await waitFor(() => gw.audit.lines.length >= 4, 'four audit lines');
    const lines = gw.audit.lines.map(({ type, action, dag_id, dag_run_id, user, auth, status, success, method, path }) => ({ type, action, dag_id, dag_run_id, user, auth, status, success, method, path }));
    assert.deepEqual(lines, [
      { type: 'audit', action: 'dag_run.trigger', dag_id: 'team_a_etl', dag_run_id: 'nightly-1', user: 'admin', auth: 'basic', status: 200, success: true, method: 'POST', path: '/api/v1/dags/team_a_etl/dagRuns' },
      { type: 'audit', action: 'dag_run.trigger', dag_id: 'team_a_etl', dag_run_id: 'nightly-1', user: 'admin', auth: 'basic', status: 409, success: false, method: 'POST', path: '/api/v1/dags/team_a_etl/dagRuns' },
      { type: 'audit', action: 'dag.pause', dag_id: 'team_b_report', dag_run_id: undefined, user: 'admin', auth: 'basic', status: 200, success: true, method: 'PATCH', path: '/api/v1/dags/team_b_report?update_mask=is_paused' },
      { type: 'audit', action: 'dag_run.trigger', dag_id: 'example_etl', dag_run_id: 'v3-run', user: 'admin', auth: 'bearer', status: 200, success: true, method: 'POST', path: '/api/v2/dags/example_etl/dagRuns' },
    ]);
    assert.equal(state2.dags.get('team_b_report')!.is_paused, true, 'the body still reached Airflow');
  } finally {
    await gw.gateway.stop(0);
    await Promise.all([v2.stop(), v3.stop()]);
  }
});

test('Prometheus metrics parse as the text format and the counters add up to the requests sent', async () => {
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await start(yaml(sims));
  const agent = new Agent();
  try {
    for (let i = 0; i < 30; i++) await (await request(`${gw.url}/health`, { dispatcher: agent })).body.dump();
    for (let i = 0; i < 7; i++) await (await request(`${gw.url}/api/v1/dags`, { dispatcher: agent })).body.dump(); // 401 from Airflow
    await (await request(`${gw.url}/nope`, { dispatcher: agent, headers: { host: 'x.invalid' } })).body.dump(); // the UI redirects to its login page
    await waitFor(() => gw.access.lines.length >= 38, 'all requests finished');
    const drain = await request(`${gw.admin}/backends/airflow/servers/web-3`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"state":"drain"}' });
    await drain.body.dump();
    const bad = await gw.gateway.reload(loadConfigText(yaml(sims), 'test.yaml'));
    assert.equal(bad.ok, true);

    const res = await request(`${gw.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const families = parsePrometheus(await res.body.text());
    const family = (name: string) => families.find((f) => f.name === name) ?? assert.fail(`no metric ${name}`);
    const requests = family('airgate_requests_total');
    assert.equal(requests.type, 'COUNTER');
    const total = requests.metrics.reduce((a, m) => a + Number(m.value), 0);
    assert.equal(total, 38);
    const byCode = (code: string) => requests.metrics.filter((m) => m.labels?.code === code).reduce((a, m) => a + Number(m.value), 0);
    assert.equal(byCode('2xx'), 30);
    assert.equal(byCode('4xx'), 7);
    assert.equal(byCode('3xx'), 1);
    assert.deepEqual(new Set(requests.metrics.map((m) => m.labels?.server)), new Set(['web-1', 'web-2', 'web-3']));
    const duration = family('airgate_request_duration_seconds');
    assert.equal(duration.type, 'HISTOGRAM');
    assert.ok(duration.metrics.length > 0 && duration.metrics.every((m) => m.buckets?.['+Inf'] !== undefined), 'the histogram has buckets');
    const state = family('airgate_server_state')
      .metrics.filter((m) => m.value === '1')
      .map((m) => `${m.labels?.server}=${m.labels?.state}`)
      .sort();
    assert.deepEqual(state, ['web-1=up', 'web-2=up', 'web-3=drain'], 'state survives the reload');
    assert.equal(family('airgate_backend_queue_length').metrics[0]!.value, '0');
    assert.equal(family('airgate_config_reloads_total').metrics.find((m) => m.labels?.result === 'success')!.value, '1');
    assert.equal(family('airgate_backend_cluster_degraded').metrics[0]!.value, '0');
    assert.equal(family('airgate_backend_secret_key_drift').metrics[0]!.value, '0');
    family('airgate_backend_retries_total');
    family('airgate_server_ejections_total');
    family('airgate_certificate_expiry_seconds');
    const unauthorized = await request(`${gw.admin}/metrics`);
    assert.equal(unauthorized.statusCode, 401);
    await unauthorized.body.dump();
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('secret-key drift: a session accepted by one node and refused by another raises AIRGATE_WARN_SECRET_KEY_DRIFT in logs, metrics and status', async () => {
  const sims = [await new SimulatedAirflow({ name: 'web-1', secretKey: 'key-one' }).start(), await new SimulatedAirflow({ name: 'web-2', secretKey: 'key-two' }).start()];
  const gw = await start(yaml(sims));
  try {
    // Log in on whichever node answers; then round robin sends the next page to the other node.
    const jar = new CookieJar();
    const cookie = () => jar.header();
    const keep = (sc: string | string[] | undefined) => jar.keep(sc);
    // Pin the login to web-1 (form and POST must hit the same node with mismatched keys).
    const form = await request(`${sims[0]!.url}/login/`);
    keep(form.headers['set-cookie']);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const login = await request(`${sims[0]!.url}/login/`, { method: 'POST', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrf}&username=admin&password=admin` });
    keep(login.headers['set-cookie']);
    await login.body.dump();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await request(`${gw.url}/home`, { headers: { cookie: cookie() } });
      seen.add(`${r.headers['x-sim-node']}:${r.statusCode}`);
      await r.body.dump();
    }
    assert.deepEqual([...seen].sort(), ['web-1:200', 'web-2:302'], 'accepted by web-1, sent to the login page by web-2');
    await waitFor(() => gw.logs.lines.some((l) => l.code === 'AIRGATE_WARN_SECRET_KEY_DRIFT'), 'the drift warning');
    const warn = gw.logs.lines.find((l) => l.code === 'AIRGATE_WARN_SECRET_KEY_DRIFT')!;
    assert.deepEqual(warn.nodes, ['web-1', 'web-2']);
    const status = (await (await request(`${gw.admin}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { backends: { secretKeyDrift: boolean }[]; events: { kind: string }[] };
    assert.equal(status.backends[0]!.secretKeyDrift, true);
    assert.ok(status.events.some((e) => e.kind === 'drift'));
    const metrics = parsePrometheus(await (await request(`${gw.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.text());
    assert.equal(metrics.find((f) => f.name === 'airgate_backend_secret_key_drift')!.metrics[0]!.value, '1');

    // The CSRF message is a sign too: a login POST carrying web-1's session lands on web-2.
    const other = await request(`${gw.url}/login/`, { method: 'POST', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrf}&username=admin&password=admin` });
    const otherBody = await other.body.text();
    if (other.statusCode === 400) {
      assert.match(otherBody, /The CSRF session token is missing/);
      await waitFor(() => gw.logs.lines.some((l) => l.code === 'AIRGATE_WARN_SECRET_KEY_DRIFT' && l.sign === 'The CSRF session token is missing.'), 'the CSRF sign');
    }
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});
