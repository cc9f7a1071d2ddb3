import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, seededRandom } from '../src/core/clock.js';
import { PeakEwmaBalancer } from '../src/upstream/balancer/peak-ewma.js';
import type { UpstreamServer } from '../src/upstream/server.js';

/** Two servers as the balancer sees them: an index, in-flight requests (`fastInflight` on the first), a weight. */
function twoServers(fastInflight: number): UpstreamServer[] {
  return [0, 1].map((index) => ({ index, inflight: index === 0 ? fastInflight : 0, effectiveWeight: () => 1 }) as unknown as UpstreamServer);
}

/**
 * The docs' worked example (docs/config.md, `peak_ewma.decay`): a server that answered in 2 s while
 * the other answers in 20 ms is tried again after about decay × ln(2000 / 20) ≈ 46 s with decay 10 s,
 * not after 10 s.
 */
for (const [decay, fastInflight, expected] of [
  [10_000, 0, 10_000 * Math.log(2000 / 20)],
  [5_000, 0, 5_000 * Math.log(2000 / 20)],
  [10_000, 3, 10_000 * Math.log(2000 / 80)],
] as const) {
  test(`peak_ewma.decay ${decay / 1000}s, ${fastInflight} in flight on the fast server: the slow one is tried again after ≈ ${(expected / 1000).toFixed(0)} s`, () => {
    const clock = new ManualClock(0);
    const [fast, slow] = twoServers(fastInflight) as [UpstreamServer, UpstreamServer];
    const b = new PeakEwmaBalancer([fast, slow], { clock, random: seededRandom(1), slowStartMs: 0 }, decay);
    b.observe(slow, 2000);
    b.observe(fast, 20);
    let back = -1;
    for (let t = 0; t <= 120_000 && back < 0; t += 250) {
      b.observe(fast, 20); // the fast server keeps answering in 20 ms
      if (b.pick([fast, slow]) === slow) back = t;
      clock.advance(250);
    }
    assert.ok(back > decay, `not after one decay (${back} ms)`);
    assert.ok(Math.abs(back - expected) <= 500, `tried again after ${back} ms, the docs say ≈ ${Math.round(expected)} ms`);
  });
}
