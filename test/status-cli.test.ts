import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startGateway, startSims } from './helpers/gateway.js';
import { envWithoutToken, runCli as run } from './helpers/cli.js';
import { freePort } from './helpers/port.js';
import type { Gateway } from '../src/server/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';

const TOKEN = 'status-cli-token-0123456789';
const COLUMNS = ['SERVER', 'STATE', 'WEIGHT', 'INFLIGHT', 'SERVED', '5XX', 'EWMA_MS', 'P99_MS', 'URL'];

interface Setup {
  sims: SimulatedAirflow[];
  gateway: Gateway;
  url: string;
  admin: string;
  http: Agent;
}

async function setup(t: TestContext): Promise<Setup> {
  const sims = await startSims(3);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const { gateway, url } = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: "${TOKEN}" }
access_log: { enabled: false }
backends:
  airflow:
    balance: round-robin
    health: { interval: 100ms, timeout: 200ms, rise: 1, fall: 1, jitter: 0% }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow }
`);
  t.after(() => gateway.stop(0));
  const http = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => http.close());
  assert.ok(gateway.admin, 'the admin listener is configured');
  return { sims, gateway, url, admin: `http://127.0.0.1:${gateway.admin.port}`, http };
}

async function traffic(s: Setup, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(`${s.url}/health`, { dispatcher: s.http });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
}

interface Table {
  header: string;
  rows: Map<string, Record<string, string>>;
  /** The table's lines (header first), for alignment checks. */
  lines: string[];
}

/** The table under `backend <name> (...)`: the header line, then one line per server up to the blank line. */
function parseTable(stdout: string, backend: string): Table {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`backend ${backend} (`));
  assert.ok(start >= 0, `no "backend ${backend}" section in:\n${stdout}`);
  const end = lines.indexOf('', start);
  const table = lines.slice(start + 1, end < 0 ? undefined : end);
  const header = table[0] ?? '';
  assert.deepEqual(header.trim().split(/\s+/), COLUMNS, `header line: ${header}`);
  const rows = new Map<string, Record<string, string>>();
  for (const line of table.slice(1)) {
    const cells = line.trim().split(/\s+/);
    assert.equal(cells.length, COLUMNS.length, `row: ${line}`);
    rows.set(cells[0]!, Object.fromEntries(COLUMNS.map((c, i) => [c, cells[i]!])));
  }
  return { header, rows, lines: table };
}

/** Every cell starts where its column's heading starts. */
function assertAligned(table: Table): void {
  for (const line of table.lines.slice(1)) {
    let from = 0;
    for (const c of COLUMNS) {
      const col = table.header.indexOf(c, from);
      assert.ok(col >= 0);
      assert.notEqual(line[col], ' ', `column ${c} of "${line}" starts under its heading`);
      if (col > 0) assert.equal(line[col - 1], ' ', `column ${c} of "${line}" starts under its heading`);
      from = col + c.length;
    }
  }
}

test('status prints one row per server, follows a drain and traffic, and lists the drain under recent events', async (t) => {
  const s = await setup(t);
  await traffic(s, 30);
  const status = () => run(t, ['status', '--admin', s.admin, '--token', TOKEN]);
  const runtimeServer = (name: string) => s.gateway.runtime.backends.get('airflow')!.server(name)!;

  const first = await status();
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stderr, '');
  assert.match(first.stdout, /^backend airflow \(round-robin\)$/m);
  const before = parseTable(first.stdout, 'airflow');
  assertAligned(before);
  assert.deepEqual([...before.rows.keys()], ['web-1', 'web-2', 'web-3']);
  for (const sim of s.sims) {
    const r = before.rows.get(sim.name)!;
    assert.equal(r.STATE, 'up', `${sim.name}: ${JSON.stringify(r)}`);
    assert.equal(r.WEIGHT, '1');
    assert.equal(r.INFLIGHT, '0');
    assert.equal(r.SERVED, String(runtimeServer(sim.name).served));
    assert.equal(r['5XX'], '0');
    assert.match(r.EWMA_MS!, /^(-|\d+\.\d)$/);
    assert.match(r.P99_MS!, /^\d+\.\d$/, 'every server answered requests, so it has a p99');
    assert.equal(r.URL, sim.url);
  }
  assert.equal(
    [...before.rows.values()].reduce((n, r) => n + Number(r.SERVED), 0),
    30,
    'the 30 requests are all counted',
  );

  // Drain web-2 through the admin API, then send more traffic.
  const drained = await request(`${s.admin}/backends/airflow/servers/web-2`, { dispatcher: s.http, method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"state":"drain"}' });
  assert.equal(drained.statusCode, 200);
  await drained.body.dump();
  await traffic(s, 30);

  const second = await status();
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stderr, '');
  const afterDrain = parseTable(second.stdout, 'airflow');
  assertAligned(afterDrain);
  assert.equal(afterDrain.rows.get('web-2')!.STATE, 'drain');
  assert.equal(afterDrain.rows.get('web-2')!.SERVED, before.rows.get('web-2')!.SERVED, 'a drained server gets no new requests');
  for (const name of ['web-1', 'web-3']) {
    const r = afterDrain.rows.get(name)!;
    assert.equal(r.STATE, 'up');
    assert.ok(Number(r.SERVED) > Number(before.rows.get(name)!.SERVED), `${name} served more: ${before.rows.get(name)!.SERVED} → ${r.SERVED}`);
    assert.equal(r.SERVED, String(runtimeServer(name).served));
  }

  // The events section lists the drain.
  const events = second.stdout.slice(second.stdout.indexOf('\nrecent events\n'));
  assert.ok(second.stdout.includes('\nrecent events\n'), second.stdout);
  assert.match(events, /^ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}admin {4}airflow\/web-2 set to drain \(was ready\)$/m);
});

test('status with a wrong token exits 1 with the admin API answer on stderr', async (t) => {
  const s = await setup(t);
  const res = await run(t, ['status', '--admin', s.admin, '--token', 'wrong-token']);
  assert.equal(res.code, 1);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, /^airgate status: the admin API answered 401: /);
  assert.ok(res.stderr.includes('a valid admin bearer token is required'), res.stderr);

  // No token at all: a hint, before any request.
  const none = await run(t, ['status', '--admin', s.admin]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--token or AIRGATE_ADMIN_TOKEN/);

  // The token may come from the environment instead.
  const fromEnv = await run(t, ['status', '--admin', `${s.admin}/`], { ...envWithoutToken(), AIRGATE_ADMIN_TOKEN: TOKEN });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.equal(parseTable(fromEnv.stdout, 'airflow').rows.size, 3);
});

test('status against an unreachable admin URL exits 1 with "cannot reach"', async (t) => {
  // A port that was free a moment ago and has nobody listening now.
  const port = await freePort();
  assert.ok(port > 0);
  const admin = `http://127.0.0.1:${port}`;
  const res = await run(t, ['status', '--admin', admin, '--token', TOKEN]);
  assert.equal(res.code, 1);
  assert.equal(res.stdout, '');
  assert.ok(res.stderr.includes(`cannot reach the admin API at ${admin}`), res.stderr);
  assert.match(res.stderr, /ECONNREFUSED/);
});
