import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basicYaml, startSims } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';

const startedPids = (out: string): number[] =>
  out
    .split('\n')
    .filter((l) => l.includes('"msg":"airgate started"'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid);

test('workers: 2 share the listener; a worker killed with kill -9 under load is replaced and at most its in-flight requests fail', async () => {
  const sims = await startSims(2);
  const gw = await spawnGateway(basicYaml(sims, { top: 'workers: 2\naccess_log: { enabled: false }' }));
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const pids = startedPids(gw.stdout());
    assert.equal(new Set(pids).size, 2, 'two worker processes');
    let killed = false;
    const load = await runLoad(`http://127.0.0.1:${gw.port}/api/v1/dags`, {
      total: 1500,
      concurrency: 8,
      headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      onProgress: (done) => {
        if (done === 300 && !killed) {
          killed = true;
          process.kill(pids[0]!, 'SIGKILL');
        }
      },
    });
    assert.ok(load.failed.length <= 8, `at most the requests in flight on the killed worker failed: ${JSON.stringify(load.failed)}`);
    assert.ok(load.ok >= 1492);
    await waitFor(() => gw.stdout().includes('worker died; starting a new one'), 'the primary to notice');
    await waitFor(() => startedPids(gw.stdout()).length === 3, 'a replacement worker to start');
    const after = await runLoad(`http://127.0.0.1:${gw.port}/health`, { total: 100, concurrency: 4 });
    assert.deepEqual(after.failed, [], 'all served after the replacement');
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('SIGHUP reloads the workers one at a time under load without a failed request', async () => {
  const sims = await startSims(2);
  const gw = await spawnGateway(basicYaml([sims[0]!], { top: 'workers: 2\naccess_log: { enabled: false }' }));
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const { writeFileSync } = await import('node:fs');
    const file = gw.child.spawnargs.at(-1)!;
    let sent = false;
    const load = await runLoad(`http://127.0.0.1:${gw.port}/_sim/echo`, {
      total: 1200,
      concurrency: 8,
      onProgress: (done) => {
        if (done === 200 && !sent) {
          sent = true;
          writeFileSync(file, basicYaml([sims[1]!], { top: 'workers: 2\naccess_log: { enabled: false }' }));
          gw.child.kill('SIGHUP');
        }
      },
    });
    assert.deepEqual(load.failed, [], 'no request failed during the rolling reload');
    await waitFor(() => (gw.stdout().match(/"msg":"worker reloaded"/g) ?? []).length === 2, 'both workers to reload');
    const after = await runLoad(`http://127.0.0.1:${gw.port}/_sim/echo`, { total: 50, concurrency: 2 });
    assert.deepEqual(Object.keys(after.byNode), ['web-2'], 'the new configuration is in force in every worker');
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('workers: health is checked once per machine and reaches every worker; a drain through the admin API reaches every worker', async () => {
  const { request } = await import('undici');
  const sims = await startSims(3);
  const token = 'workers-admin-token-0123';
  const gw = await spawnGateway(
    basicYaml(sims, {
      top: `workers: 2\naccess_log: { enabled: false }\nadmin: { address: "127.0.0.1:0", token: ${token} }`,
    }).replace('  airflow:\n    servers:', '  airflow:\n    health: { interval: 100ms, timeout: 150ms, rise: 1, fall: 1, jitter: 0% }\n    servers:'),
  );
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    // Only the primary checks: the health request rate is one machine's, not two workers'.
    const before = sims[0]!.healthRequests;
    await waitFor(() => sims[0]!.healthRequests >= before + 10, 'ten checks');
    const started = Date.now();
    const checks = sims[0]!.healthRequests;
    await waitFor(() => Date.now() - started >= 1000, 'one second of checks');
    const perSecond = sims[0]!.healthRequests - checks;
    assert.ok(perSecond <= 13, `about 10 checks per second for the machine, got ${perSecond}`);

    sims[0]!.setFaults({ hang: true });
    await waitFor(() => gw.stdout().includes('server airflow/web-1 is down'), 'the primary to mark web-1 down');
    // The primary sends health to the workers every 250 ms; give it two rounds.
    const seenAt = Date.now();
    await waitFor(() => Date.now() - seenAt > 600, 'two broadcast rounds');
    const afterDown = await runLoad(`http://127.0.0.1:${gw.port}/health`, { total: 200, concurrency: 8 });
    assert.deepEqual(afterDown.failed, []);
    assert.equal(afterDown.byNode['web-1'] ?? 0, 0, 'no worker sends to the down server');

    const adminPort = Number(/"admin":"127\.0\.0\.1:(\d+)"/.exec(gw.stdout())![1]);
    const drain = await request(`http://127.0.0.1:${adminPort}/backends/airflow/servers/web-2`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{"state":"drain"}' });
    assert.equal(drain.statusCode, 200);
    await drain.body.dump();
    let last: Record<string, number> = {};
    let sent = 200;
    const deadline = Date.now() + 3000;
    do {
      last = (await runLoad(`http://127.0.0.1:${gw.port}/health`, { total: 100, concurrency: 8 })).byNode;
      sent += 100;
    } while ((last['web-2'] ?? 0) > 0 && Date.now() < deadline);
    assert.deepEqual(Object.keys(last), ['web-3'], `only web-3 serves in every worker: ${JSON.stringify(last)}`);

    // /metrics on the admin listener adds up every worker.
    const { default: parsePrometheus } = await import('parse-prometheus-text-format');
    const scrape = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const families = parsePrometheus(await scrape.body.text());
    const total = families.find((f) => f.name === 'airgate_requests_total')!.metrics.reduce((a, m) => a + Number(m.value), 0);
    assert.equal(total, sent, 'the requests of both workers are counted');
    const up = families
      .find((f) => f.name === 'airgate_server_state')!
      .metrics.filter((m) => m.value !== '0')
      .map((m) => `${m.labels?.server}=${m.labels?.state}:${m.value}`)
      .sort();
    assert.deepEqual(up, ['web-1=down:1', 'web-2=drain:1', 'web-3=up:1'], 'states are not doubled by the number of workers');

    // /status likewise shows the machine: served counts of both workers added up.
    const status = (await (await request(`http://127.0.0.1:${adminPort}/status`, { headers: { authorization: `Bearer ${token}` } })).body.json()) as { backends: { servers: { name: string; served: number; status: string }[] }[] };
    const served = status.backends[0]!.servers.reduce((a, s2) => a + s2.served, 0);
    assert.equal(served, sent, 'requests served by both workers');
    assert.deepEqual(
      status.backends[0]!.servers.map((s2) => s2.status),
      ['down', 'drain', 'up'],
    );
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('workers: rate limits hold for the whole machine (counted by the primary)', async () => {
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: 'workers: 2\naccess_log: { enabled: false }\nrate_limits: [{ name: machine, match: {}, key: [client_ip], rate: 1/h, burst: 10 }]' }));
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const load = await runLoad(`http://127.0.0.1:${gw.port}/health`, { total: 40, concurrency: 8 });
    assert.equal(load.ok, 10, `one total of 10 across both workers: ${JSON.stringify(load.failed.slice(0, 3))}`);
    assert.ok(load.failed.every((f) => f.status === 429));
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
