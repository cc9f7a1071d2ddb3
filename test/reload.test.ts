import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { loadConfigFile } from '../src/config/load.js';
import { Gateway } from '../src/server/gateway.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { LogCapture } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/port.js';

const TOKEN = 'reload-test-admin-token';

function config(sims: SimulatedAirflow[], opts: { weight?: number; extraListener?: number; timeout?: string } = {}): string {
  return `listeners:
  - { name: public, address: 127.0.0.1:0 }
${opts.extraListener !== undefined ? `  - { name: extra, address: 127.0.0.1:${opts.extraListener} }\n` : ''}admin: { address: 127.0.0.1:0, token: ${TOKEN} }
backends:
  airflow:
    health: { interval: 100ms, timeout: 300ms, rise: 1, fall: 1 }
    servers:
${sims.map((s, i) => `      - { name: ${s.name}, url: ${s.url}, weight: ${i === 0 ? (opts.weight ?? 1) : 1} }`).join('\n')}
routes:
  - { path: /, backend: airflow, timeouts: { response_headers: ${opts.timeout ?? '30s'} } }
`;
}

test('20 reloads under continuous load: zero failed requests; health and operator state carry over; a broken config changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-reload-'));
  const file = join(dir, 'airgate.yaml');
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name }).start()));
  writeFileSync(file, config(sims));
  const logs = new LogCapture();
  const gateway = new Gateway(loadConfigFile(file), { configFile: file, logger: pino({ level: 'info' }, logs) });
  await gateway.start();
  const url = `http://127.0.0.1:${gateway.port()}`;
  const admin = `http://127.0.0.1:${gateway.admin!.port}`;
  try {
    // web-3 is drained by the operator and web-2 is down: both must stay so across reloads.
    const drain = await request(`${admin}/backends/airflow/servers/web-3`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"state":"drain"}' });
    assert.equal(drain.statusCode, 200);
    await drain.body.dump();
    sims[1]!.setFaults({ hang: true });
    await waitFor(() => gateway.runtime.backends.get('airflow')!.server('web-2')!.health === 'down', 'web-2 down');

    let reloads = 0;
    const load = runLoad(`${url}/api/v1/dags`, {
      total: 3000,
      concurrency: 8,
      headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      onProgress: async (done) => {
        if (done % 120 === 0 && reloads < 20) {
          reloads++;
          writeFileSync(file, config(sims, { weight: 1 + (reloads % 3), timeout: `${20 + reloads}s` }));
          const res = await request(`${admin}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
          const body = (await res.body.json()) as { ok: boolean };
          assert.equal(res.statusCode, 200, JSON.stringify(body));
        }
      },
    });
    const result = await load;
    assert.equal(reloads, 20);
    assert.deepEqual(result.failed, [], 'no request failed during 20 reloads');
    assert.equal(result.ok, 3000);
    assert.equal(gateway.reloads.ok, 20);
    assert.equal(result.byNode['web-2'] ?? 0, 0, 'the down server stayed down across reloads');
    assert.equal(result.byNode['web-3'] ?? 0, 0, 'the drained server stayed drained across reloads');
    const rt = gateway.runtime;
    assert.equal(rt.backends.get('airflow')!.server('web-3')!.admin, 'drain');
    assert.equal(rt.routes()[0]!.headersTimeout, 40_000, 'the last reload is in force');

    // A broken file: the reload is refused with check-style errors and nothing changes.
    writeFileSync(file, config(sims).replace('address: 127.0.0.1:0 }', 'adress: 127.0.0.1:0 }'));
    const bad = await request(`${admin}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bad.statusCode, 422);
    const badBody = (await bad.body.json()) as { ok: boolean; errors: string[] };
    assert.equal(badBody.ok, false);
    assert.ok(
      badBody.errors.some((e) => /airgate\.yaml:2:\d+: listeners\[0\]\.adress: unknown key "adress" \(did you mean "address"\?\)/.test(e)),
      badBody.errors.join('\n'),
    );
    assert.equal(gateway.runtime, rt, 'the running runtime is unchanged');
    assert.equal(gateway.reloads.failed, 1);
    assert.ok(logs.lines.some((l) => l.msg === 'configuration reload failed; the running configuration stays'));
    const still = await request(`${url}/health`);
    assert.equal(still.statusCode, 200);
    await still.body.dump();
  } finally {
    await gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload adds and removes listeners', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-reload-'));
  const file = join(dir, 'airgate.yaml');
  const sims = [await new SimulatedAirflow({ name: 'web-1' }).start()];
  const extraPort = await freePort();
  writeFileSync(file, config(sims));
  const gateway = new Gateway(loadConfigFile(file), { configFile: file, logger: pino({ level: 'silent' }) });
  await gateway.start();
  try {
    writeFileSync(file, config(sims, { extraListener: extraPort }));
    const added = await gateway.reload();
    assert.equal(added.ok, true);
    const res = await request(`http://127.0.0.1:${extraPort}/health`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    writeFileSync(file, config(sims));
    const removed = await gateway.reload();
    assert.deepEqual(removed.ok && removed.removed, ['extra']);
    await assert.rejects(request(`http://127.0.0.1:${extraPort}/health`), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    const main = await request(`http://127.0.0.1:${gateway.port()}/health`);
    assert.equal(main.statusCode, 200, 'the remaining listener kept serving');
    await main.body.dump();
  } finally {
    await gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP reloads `airgate serve`; an in-flight request finishes on the old configuration', async () => {
  const sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await spawnGateway(config([sims[0]!]));
  try {
    const streaming = await request(`http://127.0.0.1:${gw.port}/_sim/stream?gate=1&lines=2`);
    const body = streaming.body.text();
    const { writeFileSync: write } = await import('node:fs');
    const file = gw.child.spawnargs.at(-1)!;
    write(file, config([sims[1]!]));
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.stdout().includes('configuration reloaded'), 'the reload to be logged');
    const after = await request(`http://127.0.0.1:${gw.port}/_sim/echo`);
    assert.equal(after.headers['x-sim-node'], 'web-2', 'new requests use the new configuration');
    await after.body.dump();
    sims[0]!.streamer.next();
    assert.equal(await body, 'line 1\nline 2\n', 'the request in flight finished on the old one');
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
