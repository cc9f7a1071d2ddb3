import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { basicYaml, client, startSims } from './helpers/gateway.js';
import { rssOf, spawnGateway } from './helpers/spawn.js';

const TOTAL = 256 * 1024 * 1024; // 256 MiB
const CHUNK = 64 * 1024;

test('a 256 MiB streamed upload passes intact while the gateway’s memory stays flat', async () => {
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims));
  const http = client();
  try {
    const pid = gw.child.pid!;
    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 10);
    const block = Buffer.alloc(CHUNK, 0x61);
    const expected = createHash('sha256');
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= TOTAL) return void this.push(null);
        sent += CHUNK;
        expected.update(block);
        this.push(block);
      },
    });
    const res = await http.req(`http://127.0.0.1:${gw.port}/_sim/upload`, { method: 'POST', body, headers: { 'content-length': String(TOTAL) } });
    const echo = (await res.body.json()) as { bodyBytes: number; sha256: string };
    clearInterval(sampler);
    assert.equal(res.statusCode, 200);
    assert.equal(echo.bodyBytes, TOTAL);
    assert.equal(echo.sha256, expected.digest('hex'));
    const growth = peak - baseline;
    assert.ok(growth < 64 * 1024 * 1024, `gateway RSS grew by ${(growth / 1048576).toFixed(1)} MiB during a ${TOTAL / 1048576} MiB upload`);
  } finally {
    await http.close();
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
