import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { basicYaml, startSims } from './helpers/gateway.js';
import { spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';

test('SIGUSR1 reopens the access log file after logrotate moved it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-logs-'));
  const file = join(dir, 'access.log');
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: `access_log: { destination: ${file} }` }));
  try {
    const one = await request(`http://127.0.0.1:${gw.port}/health`, { headers: { 'x-request-id': 'before-rotate' } });
    await one.body.dump();
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('before-rotate'), 'the first line in the file');
    renameSync(file, `${file}.1`);
    gw.child.kill('SIGUSR1');
    await waitFor(() => existsSync(file), 'the file to be reopened');
    const two = await request(`http://127.0.0.1:${gw.port}/health`, { headers: { 'x-request-id': 'after-rotate' } });
    await two.body.dump();
    await waitFor(() => readFileSync(file, 'utf8').includes('after-rotate'), 'the next line in the new file');
    assert.ok(!readFileSync(`${file}.1`, 'utf8').includes('after-rotate'));
    const line = JSON.parse(readFileSync(file, 'utf8').trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(line.type, 'access');
    assert.equal(line.request_id, 'after-rotate');
  } finally {
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});
