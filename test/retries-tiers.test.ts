import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startGateway } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';

const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

async function cluster(names: string[], state = new AirflowState()): Promise<SimulatedAirflow[]> {
  return Promise.all(names.map((name) => new SimulatedAirflow({ name, state }).start()));
}

test('503 answers are retried on another server when configured; a dag-run trigger POST never is', async () => {
  const sims = await cluster(['web-1', 'web-2']);
  const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  airflow:
    balance: round-robin
    retries: { attempts: 2, on: [connect-failure, reset-before-response, 503], budget: 50% }
    outlier: { consecutive_errors: 1000 }
    servers:
      - { name: web-1, url: ${sims[0]!.url} }
      - { name: web-2, url: ${sims[1]!.url} }
routes:
  - path: /
    backend: airflow
    retries: { methods: [POST] }
`;
  const gw = await startGateway(yaml);
  const http = client();
  try {
    sims[0]!.setFaults({ unavailable: true });
    for (let i = 0; i < 6; i++) {
      const res = await http.req(`${gw.url}/api/v1/dags`, { headers: { authorization: BASIC } });
      assert.equal(res.statusCode, 200, 'GETs are answered by the healthy node');
      assert.equal(res.headers['x-sim-node'], 'web-2');
      await res.body.dump();
    }
    // A POST the route opted in (not a dag-run trigger) is buffered and retried.
    const echoed = await http.req(`${gw.url}/_sim/echo`, { method: 'POST', body: 'x'.repeat(1000) });
    const echo = (await echoed.body.json()) as { node: string; bodyBytes: number };
    assert.equal(echoed.statusCode, 200);
    assert.deepEqual([echo.node, echo.bodyBytes], ['web-2', 1000], 'the retried POST carried its whole body');
    // Dag-run triggers are never replayed: whichever node gets it answers, even with a 503.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await http.req(`${gw.url}/api/v1/dags/example_etl/dagRuns`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/json' }, body: JSON.stringify({ dag_run_id: `run-${i}` }) });
      statuses.push(res.statusCode);
      await res.body.dump();
    }
    assert.deepEqual(statuses.slice().sort(), [200, 200, 503, 503], 'two triggers reached the 503 node and were not replayed');
    assert.equal(sims[0]!.state.runs.size, 2, 'each trigger ran at most once');
  } finally {
    await http.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('tiers: the backup tier serves only while every tier-1 server is out, and gives traffic back when one returns', async () => {
  const sims = await cluster(['web-1', 'web-2', 'dr-1']);
  const ports = sims.map((s) => s.port);
  const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  airflow:
    outlier: { consecutive_errors: 1, base_ejection: 200ms, max_ejected: 100% }
    servers:
      - { name: web-1, url: ${sims[0]!.url} }
      - { name: web-2, url: ${sims[1]!.url} }
      - { name: dr-1, url: ${sims[2]!.url}, backup: true }
routes:
  - { path: /, backend: airflow }
`;
  const gw = await startGateway(yaml);
  try {
    const normal = await runLoad(`${gw.url}/health`, { total: 200, concurrency: 4 });
    assert.deepEqual(normal.failed, []);
    assert.equal(normal.byNode['dr-1'], undefined, 'the backup takes nothing while tier 1 is up');
    await sims[0]!.stop();
    await sims[1]!.stop();
    const failover = await runLoad(`${gw.url}/health`, { total: 200, concurrency: 4 });
    assert.deepEqual(failover.failed, [], 'no client request failed while tier 1 went away');
    assert.ok((failover.byNode['dr-1'] ?? 0) >= 190, `the backup served ${failover.byNode['dr-1']} of 200`);
    const back = await new SimulatedAirflow({ name: 'web-1', port: ports[0], state: sims[0]!.state }).start();
    try {
      let share = 0;
      const deadline = Date.now() + 10_000;
      while (share < 0.9 && Date.now() < deadline) {
        const r = await runLoad(`${gw.url}/health`, { total: 100, concurrency: 4 });
        assert.deepEqual(r.failed, []);
        share = (r.byNode['web-1'] ?? 0) / 100;
      }
      assert.ok(share >= 0.9, `web-1 took back ${(share * 100).toFixed(0)} % of the traffic`);
    } finally {
      await back.stop();
    }
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});
