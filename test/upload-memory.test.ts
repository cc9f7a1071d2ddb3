import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { basicYaml, client, startSims } from './helpers/gateway.js';
import { rssOf, spawnGateway } from './helpers/spawn.js';

const TOTAL = 512 * 1024 * 1024; // 512 MiB
const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

test('a 512 MiB streamed upload passes intact while the gateway’s memory stays flat', async () => {
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: 'access_log: { enabled: false }' }));
  const http = client();
  try {
    const pid = gw.child.pid!;
    const baseline = rssOf(pid);
    // Peak RSS while the first half streams, and while the second half does: memory that grew
    // with the upload would keep rising in the second half.
    const peaks = [baseline, baseline];
    let sent = 0;
    const sampler = setInterval(() => {
      const half = sent < TOTAL / 2 ? 0 : 1;
      peaks[half] = Math.max(peaks[half]!, rssOf(pid));
    }, 10);
    const block = Buffer.alloc(CHUNK, 0x61);
    const expected = createHash('sha256');
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
    const [first, second] = peaks.map((p) => (p - baseline) / MiB) as [number, number];
    process.stdout.write(`# gateway RSS growth: ${first.toFixed(1)} MiB in the first 256 MiB, ${second.toFixed(1)} MiB in the second\n`);
    assert.ok(second < first + 24, `memory kept growing with the upload: ${first.toFixed(1)} → ${second.toFixed(1)} MiB`);
    assert.ok(Math.max(first, second) < 128, `gateway RSS grew by ${Math.max(first, second).toFixed(1)} MiB while streaming ${TOTAL / MiB} MiB`);
  } finally {
    await http.close();
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
