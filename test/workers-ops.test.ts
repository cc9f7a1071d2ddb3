import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { basicYaml, startSims } from './helpers/gateway.js';
import { spawnGateway, type SpawnedGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';
import { counterSamples, freshRequests, jsonLines, listensOn, scrape, waitForAsync } from './helpers/ops.js';

const TOKEN = 'workers-ops-admin-token-0123';

const workerPids = (gw: SpawnedGateway): number[] =>
  jsonLines(gw.stdout())
    .filter((l) => l.msg === 'airgate started')
    .map((l) => l.pid as number);
const adminOf = (gw: SpawnedGateway): string => `http://127.0.0.1:${/"admin":"127\.0\.0\.1:(\d+)"/.exec(gw.stdout())![1]}`;
const idsIn = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { request_id: string }).request_id)
    : [];
const reopenedLines = (gw: SpawnedGateway, signal: string) => jsonLines(gw.stdout()).filter((l) => l.msg === 'log files reopened' && l.signal === signal);

test('logrotate with 2 workers: mv + SIGUSR1, then mv + SIGHUP to the primary: every worker reopens, no line is lost or misplaced; SIGUSR1 never opens the inspector', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-rotate-'));
  const file = join(dir, 'access.log');
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: `workers: 2\naccess_log: { destination: ${file} }\naudit_log: { enabled: false }` }));
  const url = `http://127.0.0.1:${gw.port}/health`;
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const primary = gw.child.pid!;
    const workers = workerPids(gw);
    assert.equal(workers.length, 2);
    const phase = async (name: string) => {
      const statuses = await freshRequests(url, 150, 6, (i) => `${name}-${i}`);
      assert.deepEqual(new Set(statuses), new Set([200]));
    };

    await phase('one');
    await waitFor(() => idsIn(file).length === 150, 'phase one written to access.log', 10_000);
    renameSync(file, `${file}.1`);
    gw.child.kill('SIGUSR1');
    await waitFor(() => reopenedLines(gw, 'SIGUSR1').length === 1, 'the primary to report the reopen', 10_000);
    assert.deepEqual((reopenedLines(gw, 'SIGUSR1')[0]!.pids as number[]).sort(), [...workers].sort(), 'both workers reopened');

    await phase('two');
    await waitFor(() => idsIn(file).length === 150, 'phase two written to the new access.log', 10_000);
    renameSync(file, `${file}.2`);
    gw.child.kill('SIGHUP');
    await waitFor(() => reopenedLines(gw, 'SIGHUP').length === 1, 'the reopen on SIGHUP', 10_000);
    assert.equal((reopenedLines(gw, 'SIGHUP')[0]!.pids as number[]).length, 2);
    await waitFor(() => (gw.stdout().match(/"msg":"worker reloaded"/g) ?? []).length === 2, 'SIGHUP also reloads both workers', 10_000);

    await phase('three');
    // logrotate's postrotate may signal every airgate process: a worker reopens on its own SIGUSR1.
    for (const pid of workers) process.kill(pid, 'SIGUSR1');
    await waitFor(() => reopenedLines(gw, 'SIGUSR1').filter((l) => workers.includes(l.pid as number)).length === 2, 'each worker to reopen on its own signal', 10_000);
    assert.doesNotMatch(gw.stderr(), /Debugger listening|inspector/i, 'no inspector started');
    assert.equal(listensOn([primary, ...workers], 9229), false, 'nothing of the gateway listens on 9229');
    const still = await request(url);
    assert.equal(still.statusCode, 200, 'still serving');
    await still.body.dump();

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    const one = idsIn(`${file}.1`);
    const two = idsIn(`${file}.2`);
    const three = idsIn(file).filter((id) => id.startsWith('three-'));
    assert.equal(one.length, 150);
    assert.ok(one.every((id) => id.startsWith('one-')));
    assert.equal(two.length, 150, 'after the first rotation every line went to the new file');
    assert.ok(two.every((id) => id.startsWith('two-')));
    assert.equal(new Set(three).size, 150, 'after the second rotation too: no line lost');
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('workers: a refused reload counts as a failure in /metrics; the admin API reloads every worker and the audit log names the operator', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-reload-'));
  const audit = join(dir, 'audit.log');
  const sims = await startSims(1);
  const yaml = basicYaml(sims, { top: `workers: 2\naccess_log: { enabled: false }\naudit_log: { destination: ${audit} }\nadmin: { address: "127.0.0.1:0", token: ${TOKEN} }` });
  const gw = await spawnGateway(yaml);
  const file = gw.child.spawnargs.at(-1)!;
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const admin = adminOf(gw);
    const failures = async () => Number((await scrape(admin, TOKEN)).families.find((f) => f.name === 'airgate_config_reloads_total')!.metrics.find((m) => m.labels?.result === 'failure')!.value);
    assert.equal(await failures(), 0);

    writeFileSync(file, `${yaml}\nroutes: []\n`);
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.stdout().includes('configuration reload failed'), 'the refusal');
    await waitForAsync(async () => (await failures()) >= 1, 'the refused reload to be counted');
    assert.equal(await failures(), 1, 'a refused reload is counted once for the machine');

    const refused = await request(`${admin}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'x-airgate-operator': 'alice' } });
    assert.equal(refused.statusCode, 422);
    const body = (await refused.body.json()) as { ok: boolean; errors: string[] };
    assert.match(body.errors.join('\n'), /duplicate key "routes"/);

    writeFileSync(file, yaml);
    const before = (gw.stdout().match(/"msg":"worker reloaded"/g) ?? []).length;
    const ok = await request(`${admin}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'x-airgate-operator': 'bob' } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(await ok.body.json(), { ok: true, workers: 2 });
    // The primary's log lines arrive through its asynchronous stdout: wait for them.
    await waitFor(() => (gw.stdout().match(/"msg":"worker reloaded"/g) ?? []).length === before + 2, 'every worker reloaded, not only the admin worker');
    assert.equal(await failures(), 2);

    await waitFor(() => existsSync(audit) && readFileSync(audit, 'utf8').split('\n').filter(Boolean).length >= 3, 'three audit lines');
    const lines = readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.type, l.action, l.user, l.auth, l.success]),
      [
        ['audit', 'config.reload', null, 'signal', false],
        ['audit', 'config.reload', 'alice', 'admin-token', false],
        ['audit', 'config.reload', 'bob', 'admin-token', true],
      ],
      'one line per reload for the machine, not one per worker',
    );
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('workers: machine-wide counters never decrease when a worker is killed with kill -9', async () => {
  const sims = await startSims(2);
  const gw = await spawnGateway(basicYaml(sims, { top: `workers: 2\naccess_log: { enabled: false }\nadmin: { address: "127.0.0.1:0", token: ${TOKEN} }` }));
  try {
    await waitFor(() => gw.stdout().includes('airgate workers started'), 'both workers to start');
    const admin = adminOf(gw);
    const status = async () => (await (await request(`${admin}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { backends: { servers: { served: number }[] }[]; workers?: { slot: number; pid: number; served: number }[] };
    // Traffic until the worker without the admin listener (slot 1) has served some of it (/status lists the workers).
    const adminPid = jsonLines(gw.stdout()).find((l) => l.msg === 'airgate started' && l.admin)!.pid as number;
    let victim: { slot: number; pid: number; served: number } | undefined;
    for (let round = 0; round < 20 && !victim; round++) {
      await freshRequests(`http://127.0.0.1:${gw.port}/health`, 100, 8, (i) => `r${round}-${i}`);
      const listed = (await status()).workers;
      victim = listed ? listed.find((w) => w.slot === 1 && w.served > 0) : { slot: 1, pid: workerPids(gw).find((p) => p !== adminPid)!, served: -1 };
    }
    assert.ok(victim, 'the second worker served requests');
    const before = counterSamples(await scrape(admin, TOKEN));
    const servedBefore = (await status()).backends[0]!.servers.reduce((a, s) => a + s.served, 0);
    assert.ok(
      [...before].some(([k, v]) => k.startsWith('airgate_requests_total') && v > 0),
      'requests were counted',
    );

    process.kill(victim.pid, 'SIGKILL');
    await waitFor(() => gw.stdout().includes('worker died; starting a new one'), 'the primary to notice');
    await waitFor(() => workerPids(gw).length === 3, 'the replacement worker');
    const after = counterSamples(await scrape(admin, TOKEN));
    const decreased = [...before].filter(([k, v]) => (after.get(k) ?? 0) < v).map(([k, v]) => `${k}: ${v} → ${after.get(k) ?? 'gone'}`);
    assert.deepEqual(decreased, [], 'no counter went backwards');
    const servedAfter = (await status()).backends[0]!.servers.reduce((a, s) => a + s.served, 0);
    assert.ok(servedAfter >= servedBefore, `status counts keep the dead worker's too: ${servedBefore} → ${servedAfter}`);
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
