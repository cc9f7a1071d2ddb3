import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './helpers/spawn.js';

/** Hold a port so the gateway finds it busy. */
async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** Run `airgate serve` to its exit (it must not start). */
async function serve(yaml: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-busy-'));
  const file = join(dir, 'airgate.yaml');
  writeFileSync(file, yaml);
  const child = spawn(process.execPath, [CLI, 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  rmSync(dir, { recursive: true, force: true });
  return { code, stdout, stderr };
}

const config = (publicPort: number, adminPort: number, top = '') => `listeners:
  - { name: public, address: "127.0.0.1:0" }
  - { name: internal, address: "127.0.0.1:${publicPort}" }
admin: { address: "127.0.0.1:${adminPort}", token: busy-address-token-0123 }
access_log: { enabled: false }
backends:
  airflow:
    servers: [{ name: web-1, url: "http://127.0.0.1:9" }]
routes: [{ path: /, backend: airflow }]
${top}`;

for (const workers of [1, 2]) {
  test(`a busy listener address (workers: ${workers}): one error line naming the listener and the address, exit 1, no stack`, async () => {
    const busy = await occupy();
    try {
      const r = await serve(config(busy.port, 0, `workers: ${workers}`));
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `airgate: listener "internal" cannot listen on 127.0.0.1:${busy.port}: the address is already in use (EADDRINUSE)\n`);
      assert.doesNotMatch(r.stdout, /airgate started/);
    } finally {
      busy.server.close();
    }
  });

  test(`a busy admin address (workers: ${workers}): one error line naming the admin API and the address, exit 1`, async () => {
    const busy = await occupy();
    try {
      const r = await serve(config(0, busy.port, `workers: ${workers}`));
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `airgate: the admin API (admin.address) cannot listen on 127.0.0.1:${busy.port}: the address is already in use (EADDRINUSE)\n`);
    } finally {
      busy.server.close();
    }
  });
}
