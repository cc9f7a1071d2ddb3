import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRobinBalancer } from '../src/upstream/balancer/round-robin.js';
import type { UpstreamServer } from '../src/upstream/server.js';
import { ManualClock, seededRandom } from '../src/core/clock.js';

let nextIndex = 0;
const server = (name: string, weight = 1) => ({ name, weight, index: nextIndex++, effectiveWeight: () => weight }) as unknown as UpstreamServer;

/**
 * The balancer over a fixed server list; `pick(exclude)` offers it the servers a backend would:
 * weight above 0 and not excluded.
 */
class RR {
  private readonly inner: RoundRobinBalancer;
  constructor(private readonly servers: UpstreamServer[]) {
    const size = Math.max(0, ...servers.map((s) => s.index + 1));
    this.inner = new RoundRobinBalancer(Array.from<UpstreamServer>({ length: size }), { clock: new ManualClock(), random: seededRandom(1), slowStartMs: 0 });
  }
  pick(exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    return this.inner.pick(this.servers.filter((s) => s.weight > 0 && !exclude?.has(s)));
  }
}

function picks(b: RR, n: number, exclude?: ReadonlySet<UpstreamServer>): string[] {
  return Array.from({ length: n }, () => b.pick(exclude)?.name ?? '-');
}

function counts(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** The longest run of the same name in a row. */
function longestRun(names: readonly string[], name: string): number {
  let best = 0;
  let run = 0;
  for (const n of names) {
    run = n === name ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

test('equal weights rotate in order, evenly', () => {
  const b = new RR([server('a'), server('b'), server('c')]);
  const seq = picks(b, 9);
  assert.deepEqual(seq, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  assert.deepEqual(counts(picks(b, 300)), { a: 100, b: 100, c: 100 });
});

test('a single server is always picked', () => {
  const only = server('only', 3);
  const b = new RR([only]);
  for (let i = 0; i < 10; i++) assert.equal(b.pick(), only);
});

test('weights 5:1:1 follow the nginx smooth sequence a a b a c a a', () => {
  const b = new RR([server('a', 5), server('b', 1), server('c', 1)]);
  assert.deepEqual(picks(b, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  // The state returns to zero after each full cycle, so the sequence repeats exactly.
  assert.deepEqual(picks(b, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

test('weights 5:1:1 give exact shares over 700 picks, interleaved smoothly', () => {
  const b = new RR([server('a', 5), server('b', 1), server('c', 1)]);
  const seq = picks(b, 700);
  assert.deepEqual(counts(seq), { a: 500, b: 100, c: 100 });
  // Smooth: every window of 7 consecutive picks holds exactly 5 a, 1 b and 1 c.
  for (let i = 0; i + 7 <= seq.length; i++) {
    assert.deepEqual(counts(seq.slice(i, i + 7)), { a: 5, b: 1, c: 1 }, `window at ${i}: ${seq.slice(i, i + 7).join(' ')}`);
  }
  // Across cycle boundaries the heavy server runs at most 4 times in a row (a a | a a), never 5 in a burst.
  assert.ok(longestRun(seq, 'a') <= 4, `longest run of a: ${longestRun(seq, 'a')}`);
  assert.equal(longestRun(seq, 'b'), 1);
  assert.equal(longestRun(seq, 'c'), 1);
});

test('weights 2:1 share 2/3 and 1/3', () => {
  const b = new RR([server('a', 2), server('b', 1)]);
  assert.deepEqual(picks(b, 6), ['a', 'b', 'a', 'a', 'b', 'a']);
  assert.deepEqual(counts(picks(b, 300)), { a: 200, b: 100 });
});

test('a server with weight 0 is never picked', () => {
  const b = new RR([server('a', 1), server('drained', 0), server('c', 1)]);
  const seq = picks(b, 100);
  assert.equal(seq.includes('drained'), false);
  assert.deepEqual(counts(seq), { a: 50, c: 50 });

  const none = new RR([server('x', 0), server('y', 0)]);
  assert.equal(none.pick(), undefined);
});

test('excluded servers are skipped, and the others keep their shares', () => {
  const a = server('a', 1);
  const b = server('b', 1);
  const c = server('c', 2);
  const bal = new RR([a, b, c]);
  const seq = picks(bal, 300, new Set([c]));
  assert.deepEqual(counts(seq), { a: 150, b: 150 });
  assert.equal(longestRun(seq, 'a'), 1);

  // A retry excludes the server it already tried.
  for (let i = 0; i < 20; i++) {
    const first = bal.pick();
    assert.ok(first);
    const second = bal.pick(new Set([first]));
    assert.ok(second);
    assert.notEqual(second, first);
  }
});

test('when every server is excluded, pick gives undefined', () => {
  const a = server('a', 1);
  const b = server('b', 3);
  const bal = new RR([a, b]);
  assert.equal(bal.pick(new Set([a, b])), undefined);
  // The balancer still works afterwards.
  assert.deepEqual(counts(picks(bal, 40)), { a: 10, b: 30 });
  assert.equal(new RR([]).pick(), undefined);
});
