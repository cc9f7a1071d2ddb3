import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startDnsmasq } from './helpers/dnsmasq.js';
import { runLoad } from './helpers/load.js';
import { spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';

const TOKEN = 'workers-admin-token-0123';

/** pids of the processes that logged a message starting with `msg`. */
const loggedBy = (out: string, msg: string): Set<number> =>
  new Set(
    out
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}`))
      .map((l) => (JSON.parse(l) as { pid: number }).pid),
  );

test('discovery with workers: 2 — the primary resolves once, both workers follow additions and withdrawals, 0 failed', async () => {
  const state = new AirflowState();
  const web2 = await new SimulatedAirflow({ name: 'web-2', state, host: '127.0.0.2' }).start();
  const P = web2.port;
  const web3 = new SimulatedAirflow({ name: 'web-3', state, host: '127.0.0.3', port: P });
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2'] } });
  const gw = await spawnGateway(`listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  airflow:
    discovery: { dns: web.test, port: ${P}, resolvers: ["${dns.address}"], min_interval: 100ms, interval: 1s, timeout: 500ms, tries: 1 }
    health: { interval: 100ms, rise: 2, fall: 2 }
routes:
  - path: /
    backend: airflow
workers: 2
access_log: { enabled: false }
admin: { address: "127.0.0.1:0", token: ${TOKEN} }
`);
  const url = `http://127.0.0.1:${gw.port}/_sim/echo`;
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const adminPort = Number(/"admin":"127\.0\.0\.1:(\d+)"/.exec(gw.stdout())![1]);
    const admin = (path: string) => request(`http://127.0.0.1:${adminPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const first = await runLoad(url, { total: 100, concurrency: 4 });
    assert.deepEqual({ failed: first.failed, nodes: Object.keys(first.byNode) }, { failed: [], nodes: ['web-2'] }, 'workers start with the servers the primary found');

    await web3.start();
    await dns.publish({ 'web.test': ['127.0.0.2', '127.0.0.3'] });
    await waitFor(() => loggedBy(gw.stdout(), `discovery: airflow +127.0.0.3-${P}`).size === 2, 'both workers to add the new server', 10_000);
    const status = async () => (await (await admin('/status')).body.json()) as { backends: { discovery: { lookups: number }; servers: { name: string; status: string; source: string }[] }[] };
    let both = false;
    const during = runLoad(url, { total: 600, concurrency: 6, onProgress: async (done) => void (done % 50 === 0 && (both = (await status()).backends[0]!.servers.every((s) => s.status === 'up'))) });
    await waitFor(() => both, 'the new server up in the machine status', 10_000);
    const mid = await during;
    assert.deepEqual(mid.failed, []);
    assert.ok(web3.requests > 0, 'the new server takes traffic');

    await dns.publish({ 'web.test': ['127.0.0.3'] });
    await waitFor(() => loggedBy(gw.stdout(), `discovery: airflow -127.0.0.2-${P} (draining)`).size === 2, 'both workers to retire the old server', 10_000);
    const before = web2.requests;
    const after = await runLoad(url, { total: 300, concurrency: 6 });
    assert.deepEqual(after.failed, []);
    assert.deepEqual(Object.keys(after.byNode), ['web-3'], 'every worker sends to the remaining server only');
    assert.equal(web2.requests, before);
    await waitFor(() => loggedBy(gw.stdout(), 'discovery: airflow changed').size === 1, 'the primary (one process) to log its own changes');

    const s = await status();
    assert.deepEqual(
      s.backends[0]!.servers.map((x) => `${x.name}:${x.source}:${x.status}`),
      [`127.0.0.3-${P}:dns:up`],
    );
    const metrics = await (await admin('/metrics')).body.text();
    assert.match(metrics, /^airgate_discovery_lookups_total\{backend="airflow"\} [1-9]\d*$/m);
    assert.match(metrics, /^airgate_discovery_servers\{backend="airflow",state="active"\} 1$/m);
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
  } finally {
    gw.cleanup();
    await dns.cleanup();
    await Promise.all([web2.stop(), web3.stop()]);
  }
});
