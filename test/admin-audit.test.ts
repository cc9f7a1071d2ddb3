import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { basicYaml, startSims } from './helpers/gateway.js';
import { CLI, spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';

const TOKEN = 'admin-audit-token-0123456';

test('operator actions (drain, ready, maint, weight, reload by API and by SIGHUP) are audit lines saying who did them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-audit-'));
  const audit = join(dir, 'audit.log');
  const sims = await startSims(2);
  const gw = await spawnGateway(basicYaml(sims, { top: `access_log: { enabled: false }\naudit_log: { destination: ${audit} }\nadmin: { address: "127.0.0.1:0", token: ${TOKEN} }` }));
  const admin = `http://127.0.0.1:${/"admin":"127\.0\.0\.1:(\d+)"/.exec(gw.stdout())![1]}`;
  const lines = () =>
    existsSync(audit)
      ? readFileSync(audit, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  try {
    const post = async (path: string, body: string, operator?: string) => {
      const res = await request(`${admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, ...(operator ? { 'x-airgate-operator': operator } : {}) }, body });
      await res.body.dump();
      return res.statusCode;
    };
    assert.equal(await post('/backends/airflow/servers/web-1', '{"state":"drain"}', 'carol'), 200);
    assert.equal(await post('/backends/airflow/servers/web-1', '{"state":"maint"}', 'carol'), 200);
    assert.equal(await post('/backends/airflow/servers/web-1', '{"state":"ready"}'), 200);
    // The CLI sends the operator's name (--as, or the login name).
    const cli = spawn(process.execPath, [CLI, 'backend', 'weight', 'airflow/web-2', '3', '--admin', admin, '--token', TOKEN, '--as', 'dave'], { stdio: 'ignore' });
    assert.equal((await once(cli, 'close'))[0], 0);
    assert.equal(await post('/reload', '', 'carol'), 200);
    gw.child.kill('SIGHUP');
    await waitFor(() => lines().length === 6, 'six audit lines', 10_000);
    assert.deepEqual(
      lines().map((l) => [l.type, l.action, l.backend ?? null, l.server ?? null, l.from ?? null, l.to ?? null, l.user, l.auth, l.success]),
      [
        ['audit', 'server.drain', 'airflow', 'web-1', 'ready', 'drain', 'carol', 'admin-token', true],
        ['audit', 'server.maint', 'airflow', 'web-1', 'drain', 'maint', 'carol', 'admin-token', true],
        ['audit', 'server.ready', 'airflow', 'web-1', 'maint', 'ready', null, 'admin-token', true],
        ['audit', 'server.weight', 'airflow', 'web-2', 1, 3, 'dave', 'admin-token', true],
        ['audit', 'config.reload', null, null, null, null, 'carol', 'admin-token', true],
        ['audit', 'config.reload', null, null, null, null, null, 'signal', true],
      ],
    );
    assert.ok(
      lines()
        .slice(0, 5)
        .every((l) => l.client === '127.0.0.1' && typeof l.time === 'string'),
    );
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});
