import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { request } from 'undici';
import parsePrometheus, { type PromFamily } from 'parse-prometheus-text-format';
import { LogCapture, startSims } from './helpers/gateway.js';
import { freePort } from './helpers/port.js';
import { histogramCounts } from './helpers/ops.js';
import { loadConfigText } from '../src/config/load.js';
import { Gateway } from '../src/server/gateway.js';
import { renderStatus } from '../src/cli/status.js';
import type { BackendStatus } from '../src/admin/status.js';
import type { GatewayEvent } from '../src/observability/events.js';

const TOKEN = 'operator-metrics-token-0123';

async function start(t: TestContext, yaml: string, now?: () => number): Promise<{ gateway: Gateway; url: string; admin: string; logs: LogCapture }> {
  const logs = new LogCapture();
  const gateway = new Gateway(loadConfigText(yaml, 'test.yaml'), { logger: pino({ level: 'debug' }, logs), observer: now ? { now } : {} });
  await gateway.start();
  t.after(() => gateway.stop(0));
  return { gateway, url: `http://127.0.0.1:${gateway.port()}`, admin: `http://127.0.0.1:${gateway.admin!.port}`, logs };
}

async function metrics(admin: string): Promise<((name: string) => PromFamily) & { text: string }> {
  const text = await (await request(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.text();
  const families = parsePrometheus(text);
  return Object.assign((name: string) => families.find((f) => f.name === name) ?? assert.fail(`no metric ${name}`), { text });
}

const value = (f: PromFamily, labels: Record<string, string>): number => {
  const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m ? Number(m.value) : 0;
};

async function status(admin: string): Promise<{ backends: BackendStatus[]; events: GatewayEvent[] }> {
  return (await (await request(`${admin}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { backends: BackendStatus[]; events: GatewayEvent[] };
}

test('metrics: terminations count ok; exact status codes; rejections by reason and name; phase timings; per-listener connections and bytes; build info', async (t) => {
  const sims = await startSims(2);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const gw = await start(
    t,
    `listeners: [{ name: public, address: "127.0.0.1:0" }]
admin: { address: "127.0.0.1:0", token: ${TOKEN} }
access_log: { enabled: false }
backends:
  airflow:
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, policy: true }
policy:
  rules:
    - { name: no-delete, effect: deny, match: { methods: [DELETE] } }
    - { name: everyone, effect: allow, match: {} }
rate_limits:
  - { name: dag-list, match: { paths: [/api/v1/dags] }, key: [client_ip], rate: 1/h, burst: 2 }
`,
  );
  let sent = 0;
  let received = 0;
  const send = async (path: string, method: 'GET' | 'DELETE' = 'GET') => {
    const res = await request(`${gw.url}${path}`, { method, reset: true });
    const body = await res.body.text();
    received += body.length;
    sent++;
    return res.statusCode;
  };
  for (let i = 0; i < 5; i++) assert.equal(await send('/health'), 200);
  assert.deepEqual([await send('/api/v1/dags'), await send('/api/v1/dags'), await send('/api/v1/dags')], [401, 401, 429]);
  assert.equal(await send('/api/v1/dags/x', 'DELETE'), 403);

  const m = await metrics(gw.admin);
  const terminations = m('airgate_request_terminations_total');
  assert.equal(value(terminations, { termination: 'ok' }), 7, 'the help text says ok is counted: it is');
  assert.equal(value(terminations, { termination: 'rate-limited' }), 1);
  const codes = m('airgate_responses_total');
  assert.deepEqual(codes.metrics.map((x) => `${x.labels?.backend}:${x.labels?.code}=${x.value}`).sort(), ['airflow:200=5', 'airflow:401=2', 'airflow:403=1', 'airflow:429=1']);
  const rejections = m('airgate_rejections_total');
  assert.deepEqual(rejections.metrics.map((x) => `${x.labels?.reason}/${x.labels?.name}=${x.value}`).sort(), ['forbidden/no-delete=1', 'rate-limited/dag-list=1']);
  assert.equal(m('airgate_request_phase_seconds').type, 'HISTOGRAM');
  const counts = histogramCounts(m.text);
  for (const phase of ['queue', 'connect', 'response']) assert.equal(counts.get(`airgate_request_phase_seconds{backend="airflow",phase="${phase}"}`), 7, `${phase}: one observation per proxied request`);
  assert.equal(value(m('airgate_build_info'), { version: '0.1.0', node: process.version }), 1);
  assert.equal(value(m('airgate_listener_connections_total'), { listener: 'public' }), sent, 'one connection per request (reset: true)');
  assert.ok(value(m('airgate_listener_bytes_sent_total'), { listener: 'public' }) > received, 'wire bytes include headers and bodies');
  assert.ok(value(m('airgate_listener_bytes_received_total'), { listener: 'public' }) > sent * 30, 'request lines and headers counted');
});

test('status: a connect failure retried on another server is not SERVED or 5XX on the dead one', async (t) => {
  const sims = await startSims(1);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const dead = await freePort();
  const gw = await start(
    t,
    `listeners: [{ name: public, address: "127.0.0.1:0" }]
admin: { address: "127.0.0.1:0", token: ${TOKEN} }
access_log: { enabled: false }
backends:
  airflow:
    balance: round-robin
    health: { enabled: false }
    outlier: { consecutive_errors: 1000 }
    servers:
      - { name: dead, url: "http://127.0.0.1:${dead}" }
      - { name: web-1, url: ${sims[0]!.url} }
routes: [{ path: /, backend: airflow }]
`,
  );
  for (let i = 0; i < 10; i++) {
    const res = await request(`${gw.url}/health`);
    assert.equal(res.statusCode, 200, 'every request answered by web-1 after the retry');
    await res.body.dump();
  }
  assert.ok(value((await metrics(gw.admin))('airgate_backend_retries_total'), { backend: 'airflow' }) >= 4, 'connect failures were retried');
  const s = await status(gw.admin);
  const row = (name: string) => s.backends[0]!.servers.find((x) => x.name === name)!;
  assert.deepEqual([row('dead').served, row('dead').failed], [0, 0], 'the dead server answered nobody');
  assert.deepEqual([row('web-1').served, row('web-1').failed], [10, 0]);
  const table = renderStatus(s.backends, []);
  assert.match(table, /\n {2}dead +\S+ +1 +0 +0 +0 /, `the table row of the dead server:\n${table}`);
});

test('secret-key drift: one stale-form 400 is not drift; two signs within 5 minutes raise it; 10 quiet minutes clear it', async (t) => {
  const sims = await startSims(1);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  let now = Date.parse('2026-11-29T12:00:00Z');
  const gw = await start(
    t,
    `listeners: [{ name: public, address: "127.0.0.1:0" }]
admin: { address: "127.0.0.1:0", token: ${TOKEN} }
access_log: { enabled: false }
login_protection: { enabled: false }
backends:
  airflow:
    servers: [{ name: web-1, url: ${sims[0]!.url} }]
routes: [{ path: /, backend: airflow }]
`,
    () => now,
  );
  const staleForm = async () => {
    // A login POST without the session that carries its CSRF token: FAB answers "The CSRF session token is missing." (400).
    const res = await request(`${gw.url}/login/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf_token=old&username=admin&password=admin' });
    assert.equal(res.statusCode, 400);
    await res.body.dump();
  };
  const gauge = async () => value((await metrics(gw.admin))('airgate_backend_secret_key_drift'), { backend: 'airflow' });

  await staleForm();
  assert.equal(await gauge(), 0, 'a single stale form after a restart is not drift');
  now += 6 * 60_000;
  await staleForm();
  assert.equal(await gauge(), 0, 'two signs six minutes apart are not drift either');
  now += 60_000;
  await staleForm();
  assert.equal(await gauge(), 1, 'two signs within five minutes raise it');
  assert.equal((await status(gw.admin)).backends[0]!.secretKeyDrift, true);
  assert.equal(gw.logs.lines.filter((l) => l.code === 'AIRGATE_WARN_SECRET_KEY_DRIFT' && l.level === 40).length, 1, 'warned once');

  now += 9 * 60_000;
  assert.equal(await gauge(), 1, 'still raised after nine quiet minutes');
  now += 60_000;
  assert.equal(await gauge(), 0, 'cleared after ten minutes without a sign');
  const s = await status(gw.admin);
  assert.equal(s.backends[0]!.secretKeyDrift, false);
  assert.match(s.events[0]!.message, /drift in airflow cleared/);
});
