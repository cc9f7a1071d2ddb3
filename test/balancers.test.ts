import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend, FULL } from '../src/upstream/backend.js';
import type { Lease, UpstreamServer } from '../src/upstream/server.js';
import { ManualClock, seededRandom } from '../src/core/clock.js';
import { backendFromYaml, holdInflight, justReturned, pickName, tally } from './helpers/backend.js';

/**
 * Balancer behaviour as the proxy sees it: every pick goes through `Backend.select`, on a backend
 * built from YAML, with a hand-driven clock and seeded randomness. Load is simulated the way the
 * proxy creates it: `backend.acquire(server)` when an attempt starts, `lease.release()` when it ends.
 */

const open: Backend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.destroy()));
});

interface Built {
  backend: Backend;
  clock: ManualClock;
  /** Server by config name. */
  s: (name: string) => UpstreamServer;
}

/**
 * A backend `airflow` with the given servers (YAML flow mappings without url, e.g.
 * `{ name: a, weight: 2 }`) and extra backend keys (YAML lines at backend level).
 */
function build(servers: string[], extra: string[] = [], seed = 42, clock = new ManualClock()): Built {
  const serverLines = servers.map((s, i) => `  - ${s.replace(/^\{/, `{ url: "http://127.0.0.1:${i + 1}",`)}`);
  const backend = backendFromYaml([...extra, 'servers:', ...serverLines], { clock, random: seededRandom(seed) });
  open.push(backend);
  return {
    backend,
    clock,
    s: (name) => {
      const found = backend.server(name);
      assert.ok(found, `no server ${name}`);
      return found;
    },
  };
}

function selectServer(b: Backend, hashKey?: string): UpstreamServer {
  const r = b.select(undefined, hashKey, undefined);
  assert.ok(r !== undefined && r !== FULL, `expected a server, got ${r === undefined ? 'nothing' : r === FULL ? FULL : r.id}`);
  return r;
}

const pct = (part: number | undefined, whole: number): number => (100 * (part ?? 0)) / whole;

describe('round-robin', () => {
  test('weights 3:2:1 give exactly 3000/2000/1000 of 6000 picks', () => {
    const { backend } = build(['{ name: a, weight: 3 }', '{ name: b, weight: 2 }', '{ name: c, weight: 1 }'], ['balance: round-robin']);
    assert.deepEqual(tally(backend, 6000), { a: 3000, b: 2000, c: 1000 });
  });

  test('a server with weight 0 is never picked', () => {
    const { backend } = build(['{ name: a }', '{ name: drained, weight: 0 }', '{ name: c }'], ['balance: round-robin']);
    assert.deepEqual(tally(backend, 1000), { a: 500, c: 500 });
  });

  test('all weights 0: select returns undefined (nothing in rotation, not full)', () => {
    const { backend } = build(['{ name: a, weight: 0 }', '{ name: b, weight: 0 }'], ['balance: round-robin']);
    assert.equal(backend.select(undefined, undefined, undefined), undefined);
  });
});

describe('least-conn', () => {
  test('with inflight 5/0/2 the idle server is picked', () => {
    const { backend, s } = build(['{ name: a }', '{ name: b }', '{ name: c }'], ['balance: least-conn']);
    holdInflight(s('a'), 5);
    holdInflight(s('c'), 2);
    assert.deepEqual(tally(backend, 30), { b: 30 });
  });

  test('with equal inflight the picks rotate over all servers', () => {
    const { backend, s } = build(['{ name: a }', '{ name: b }', '{ name: c }'], ['balance: least-conn']);
    for (const n of ['a', 'b', 'c']) holdInflight(s(n), 4);
    for (let round = 0; round < 20; round++) {
      const three = [pickName(backend), pickName(backend), pickName(backend)].sort();
      assert.deepEqual(three, ['a', 'b', 'c'], `round ${round}`);
    }
  });

  test('weights are respected: a weight-2 server holds twice the inflight before losing', () => {
    const { backend, s } = build(['{ name: big, weight: 2 }', '{ name: small, weight: 1 }'], ['balance: least-conn']);
    const big = s('big');
    const small = s('small');
    // big with 4 in flight against small with 2: (4+1)/2 = 2.5 < (2+1)/1 = 3, big still wins.
    holdInflight(big, 4);
    holdInflight(small, 2);
    assert.deepEqual(tally(backend, 10), { big: 10 });
    // One more than twice the load and it loses: (6+1)/2 = 3.5 > 3.
    holdInflight(big, 6);
    assert.deepEqual(tally(backend, 10), { small: 10 });

    // Requests held in flight fill the servers 2:1.
    holdInflight(big, 0);
    holdInflight(small, 0);
    for (let i = 0; i < 300; i++) {
      selectServer(backend).lease();
      assert.ok(big.inflight <= 2 * small.inflight + 2 && big.inflight >= 2 * small.inflight - 2, `after ${i + 1}: big ${big.inflight}, small ${small.inflight}`);
    }
    assert.equal(big.inflight, 200);
    assert.equal(small.inflight, 100);
  });
});

describe('random-two', () => {
  test('weights 2:1:1 with equal (zero) inflight: shares within ±2 percentage points of 50/25/25 over 30000 picks', () => {
    const { backend } = build(['{ name: a, weight: 2 }', '{ name: b }', '{ name: c }'], ['balance: random-two'], 7);
    const n = 30_000;
    const t = tally(backend, n);
    const shares = { a: pct(t.a, n), b: pct(t.b, n), c: pct(t.c, n) };
    assert.equal((t.a ?? 0) + (t.b ?? 0) + (t.c ?? 0), n, JSON.stringify(t));
    assert.ok(Math.abs(shares.a - 50) <= 2, JSON.stringify(shares));
    assert.ok(Math.abs(shares.b - 25) <= 2, JSON.stringify(shares));
    assert.ok(Math.abs(shares.c - 25) <= 2, JSON.stringify(shares));
    console.log(`random-two: 2:1:1 idle ${JSON.stringify(shares)}`);
  });

  test('weights 2:1:1 under load (requests held in flight, finishing at random): shares within ±2 percentage points of 50/25/25', () => {
    const { backend } = build(['{ name: a, weight: 2 }', '{ name: b }', '{ name: c }'], ['balance: random-two'], 8);
    const finish = seededRandom(99);
    const t: Record<string, number> = {};
    const held: Lease[] = [];
    let maxHeld = 0;
    for (let tick = 0; tick < 10_000; tick++) {
      for (let k = 0; k < 3; k++) {
        const s = selectServer(backend);
        held.push(backend.acquire(s));
        t[s.name] = (t[s.name] ?? 0) + 1;
      }
      maxHeld = Math.max(maxHeld, held.length);
      // Every request in flight finishes with probability 10 % per tick (same speed everywhere): about 30 in flight.
      for (let i = held.length - 1; i >= 0; i--) {
        if (finish() < 0.1) held.splice(i, 1)[0]!.release();
      }
    }
    const shares = { a: pct(t.a, 30_000), b: pct(t.b, 30_000), c: pct(t.c, 30_000) };
    assert.ok(maxHeld >= 20, `only ${maxHeld} in flight at most`);
    assert.ok(Math.abs(shares.a - 50) <= 2, JSON.stringify(shares));
    assert.ok(Math.abs(shares.b - 25) <= 2, JSON.stringify(shares));
    assert.ok(Math.abs(shares.c - 25) <= 2, JSON.stringify(shares));
    console.log(`random-two: 2:1:1 under load ${JSON.stringify(shares)}`);
  });

  test('a heavily loaded server (50 in flight vs 0) is never picked while two idle ones are there', () => {
    const { backend, s } = build(['{ name: busy }', '{ name: b }', '{ name: c }'], ['balance: random-two'], 3);
    holdInflight(s('busy'), 50);
    const t = tally(backend, 3000);
    // Two distinct candidates are drawn and the less loaded wins, so busy can only win against itself: never.
    assert.equal(t.busy, undefined, JSON.stringify(t));
    assert.ok((t.b ?? 0) > 1200 && (t.c ?? 0) > 1200, JSON.stringify(t));
  });
});

describe('peak-ewma', () => {
  test('a slow server loses traffic, and wins it back once it is fast again (decay 1s)', () => {
    const { backend, clock, s } = build(['{ name: a }', '{ name: b }', '{ name: slow }'], ['balance: peak-ewma', 'peak_ewma: { decay: 1s }'], 11);
    const observe = (server: UpstreamServer, ms: number) => backend.balancer.observe!(server, ms);
    for (let i = 0; i < 10; i++) {
      clock.advance(5);
      for (const n of ['a', 'b', 'slow']) observe(s(n), 2);
    }
    observe(s('slow'), 200);

    let slowAnswers = true;
    const stream = (count: number): string[] => {
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        clock.advance(5);
        const chosen = selectServer(backend);
        observe(chosen, chosen.name === 'slow' && slowAnswers ? 200 : 2);
        names.push(chosen.name);
      }
      return names;
    };

    const slowPhase = stream(1000);
    const fastPicks = slowPhase.filter((n) => n !== 'slow').length;
    assert.ok(fastPicks >= 800, `fast servers got ${fastPicks} of 1000 picks`);

    // The slow server recovers. Its estimate decays while idle, so it is probed again and then wins back its share.
    slowAnswers = false;
    const recovery = stream(6000); // 30 simulated seconds
    const last = recovery.slice(-1000);
    const slowShare = pct(last.filter((n) => n === 'slow').length, 1000);
    assert.ok(slowShare >= 20, `recovered server got ${slowShare}% of the last 1000 picks`);
    const firstBack = recovery.indexOf('slow');
    assert.ok(firstBack >= 0 && firstBack * 5 <= 10_000, `recovered server first picked after ${firstBack * 5} ms`);
    console.log(`peak-ewma: fast servers ${fastPicks / 10}% while slow; recovered server ${slowShare}% of the last 1000 picks, first probed after ${firstBack * 5} ms`);
  });

  test('a server with no observations yet is tried', () => {
    const { backend, clock, s } = build(['{ name: a }', '{ name: b }', '{ name: fresh }'], ['balance: peak-ewma'], 5);
    for (let i = 0; i < 20; i++) {
      clock.advance(5);
      backend.balancer.observe!(s('a'), 2);
      backend.balancer.observe!(s('b'), 2);
    }
    const first = Array.from({ length: 10 }, () => pickName(backend));
    assert.ok(first.includes('fresh'), first.join(' '));
  });
});

describe('hash (bounded-load consistent hashing)', () => {
  const hashCfg = ['balance: hash', 'hash: { key: "header:x-user", balance_factor: 1.25 }'];
  const four = ['{ name: s1 }', '{ name: s2 }', '{ name: s3 }', '{ name: s4 }'];
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  test('the same key maps to the same server while loads are balanced, on every instance', () => {
    const one = build(four, hashCfg).backend;
    const two = build(four, hashCfg, 999).backend;
    for (const key of keys.slice(0, 500)) {
      const first = pickName(one, key);
      assert.equal(pickName(one, key), first, key);
      assert.equal(pickName(two, key), first, `${key} on a second instance`);
    }
  });

  test('10000 keys spread 25% ± 5% over 4 servers', () => {
    const { backend } = build(four, hashCfg);
    const t: Record<string, number> = {};
    for (const key of keys) {
      const n = pickName(backend, key);
      t[n] = (t[n] ?? 0) + 1;
    }
    const shares = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, pct(v, keys.length)]));
    assert.deepEqual(Object.keys(t).sort(), ['s1', 's2', 's3', 's4']);
    for (const [name, share] of Object.entries(shares)) assert.ok(Math.abs(share - 25) <= 5, `${name}: ${share}% (${JSON.stringify(shares)})`);
    console.log(`hash: shares of 10000 keys over 4 servers ${JSON.stringify(shares)}`);
  });

  test('adding a 5th server moves about 1/5 of the keys, all of them to the new server', () => {
    const before = build(four, hashCfg).backend;
    const after = build([...four, '{ name: s5 }'], hashCfg).backend;
    let moved = 0;
    for (const key of keys) {
      const was = pickName(before, key);
      const now = pickName(after, key);
      if (was !== now) {
        moved++;
        assert.equal(now, 's5', `${key} moved from ${was} to ${now}`);
      }
    }
    const share = pct(moved, keys.length);
    assert.ok(share >= 12 && share <= 28, `moved ${share}% of keys`);
    console.log(`hash: adding a 5th server moved ${share}% of keys`);
  });

  test('bounded load: one hot key held in flight never puts more than ceil(1.25 × total / 4) on a server', () => {
    const { backend } = build(four, hashCfg);
    const servers = backend.servers;
    let total = 0;
    for (let i = 0; i < 400; i++) {
      selectServer(backend, 'hot-user').lease();
      total++;
      // The server chosen had inflight < ceil(1.25 × (total_before + 1) / 4) = ceil(1.25 × total / 4),
      // and total only grows, so this holds for every server after every selection.
      const limit = Math.ceil((1.25 * total) / servers.length);
      for (const s of servers) assert.ok(s.inflight <= limit, `after ${total}: ${s.name} has ${s.inflight} > ${limit}`);
    }
    const loads = servers.map((s) => s.inflight);
    // The brief's looser form: nobody exceeds ceil(1.25 × average) + 1 = 126.
    for (const l of loads) assert.ok(l <= Math.ceil(1.25 * 100) + 1, loads.join('/'));
    // The hot key's owner is filled up to the bound (125); the overflow goes to the others.
    assert.equal(Math.max(...loads), 125, loads.join('/'));
    assert.equal(
      loads.reduce((a, b) => a + b, 0),
      400,
    );
    console.log(`hash: hot key, 400 held requests spread ${loads.join('/')}`);
  });

  test('a request without a key still gets a server', () => {
    const { backend } = build(four, hashCfg);
    const t = tally(backend, 400);
    assert.deepEqual(t, { s1: 100, s2: 100, s3: 100, s4: 100 });
  });
});

describe('tiers', () => {
  const servers = ['{ name: a }', '{ name: b }', '{ name: c, tier: 2 }', '{ name: d, backup: true }'];

  test('tier 2 and backup servers take no traffic while a tier-1 server is available', () => {
    const { backend } = build(servers, ['balance: round-robin']);
    assert.deepEqual(tally(backend, 200), { a: 100, b: 100 });
  });

  test('when every tier-1 server is ejected, tier 2 (tier: 2 and backup) takes the traffic; a returning tier-1 server takes it back', () => {
    const { backend, clock, s } = build(servers, ['balance: round-robin'], 1, new ManualClock(1_000));
    s('a').eject(clock.now() + 30_000, 1);
    s('b').eject(clock.now() + 60_000, 1);
    assert.deepEqual(tally(backend, 200), { c: 100, d: 100 });
    clock.advance(30_000); // a's ejection is over (ejectedUntil == now); b is still out
    assert.deepEqual(tally(backend, 200), { a: 200 });
  });

  test('when every tier-1 server has weight 0, tier 2 takes the traffic', () => {
    const { backend, s } = build(servers, ['balance: least-conn']);
    s('a').setWeight(0);
    s('b').setWeight(0);
    assert.deepEqual(tally(backend, 100), { c: 50, d: 50 });
    s('b').setWeight(1);
    assert.deepEqual(tally(backend, 100), { b: 100 });
  });
});

describe('slow start', () => {
  test('round-robin: a server that just returned ramps from 5% of its weight to all of it over 30s', () => {
    const { backend, clock, s } = build(['{ name: a }', '{ name: b }', '{ name: new }'], ['balance: round-robin', 'slow_start: 30s'], 1, new ManualClock(100_000));
    justReturned(s('new'), clock.now());
    const measure = () => {
      const t = tally(backend, 2000);
      return { share: pct(t.new, 2000), ratio: (t.new ?? 0) / (t.a ?? 1), t };
    };
    const at0 = measure();
    clock.advance(15_000);
    const at15 = measure();
    clock.advance(15_000);
    const at30 = measure();
    console.log(`slow start: new server share ${at0.share}% at 0s, ${at15.share}% at 15s, ${at30.share}% at 30s`);
    // t=0: weight 0.05 against two peers of 1 → 0.05/2.05 ≈ 2.4 %.
    assert.ok(at0.share > 0 && at0.share < 10, JSON.stringify(at0));
    assert.ok(at0.ratio > 0.03 && at0.ratio < 0.07, JSON.stringify(at0));
    // t=15s: half weight → 0.5/2.5 = 20 %.
    assert.ok(at15.ratio > 0.45 && at15.ratio < 0.55, JSON.stringify(at15));
    assert.ok(Math.abs(at15.share - 20) <= 2, JSON.stringify(at15));
    // t=30s: full weight → 1/3.
    assert.ok(Math.abs(at30.share - 100 / 3) <= 1, JSON.stringify(at30));
  });
});

describe('slow start (random-two)', () => {
  test('an idle backend gives a server that just returned about 5% of its weight, then its full share after 30s', () => {
    const { backend, clock, s } = build(['{ name: a }', '{ name: b }', '{ name: new }'], ['balance: random-two', 'slow_start: 30s'], 4, new ManualClock(100_000));
    justReturned(s('new'), clock.now());
    const at0 = pct(tally(backend, 4000).new, 4000);
    clock.advance(30_000);
    const at30 = pct(tally(backend, 4000).new, 4000);
    console.log(`slow start (random-two): new server share ${at0}% at 0s, ${at30}% at 30s`);
    // 0.05 / 2.05 ≈ 2.4 % at first, 1/3 once the ramp is over.
    assert.ok(at0 > 0.5 && at0 < 6, `${at0}%`);
    assert.ok(Math.abs(at30 - 100 / 3) <= 3, `${at30}%`);
  });
});

describe('max_connections', () => {
  test('every server at max_connections: select returns FULL; a release makes that server selectable again', () => {
    const { backend, s } = build(['{ name: a, max_connections: 2 }', '{ name: b, max_connections: 2 }', '{ name: c, max_connections: 2 }'], ['balance: least-conn']);
    for (const n of ['a', 'b', 'c']) backend.acquire(s(n));
    assert.notEqual(backend.select(undefined, undefined, undefined), FULL);
    const second = ['a', 'b', 'c'].map((n) => backend.acquire(s(n)));
    assert.equal(backend.select(undefined, undefined, undefined), FULL);
    assert.equal(FULL, 'full');
    second[1]!.release();
    assert.equal(s('b').inflight, 1);
    assert.equal(backend.select(undefined, undefined, undefined), s('b'));
  });

  test('FULL is about capacity: a backend with nothing in rotation is undefined, not FULL', () => {
    const { backend, s, clock } = build(['{ name: a, max_connections: 1 }'], ['balance: round-robin']);
    holdInflight(s('a'), 1);
    assert.equal(backend.select(undefined, undefined, undefined), FULL);
    s('a').eject(clock.now() + 1000, 1);
    assert.equal(backend.select(undefined, undefined, undefined), undefined);
  });
});

describe('exclude', () => {
  for (const balance of ['round-robin', 'least-conn', 'random-two', 'peak-ewma', 'hash'] as const) {
    test(`${balance}: an excluded server is never returned; excluding all gives undefined`, () => {
      const extra = [`balance: ${balance}`, ...(balance === 'hash' ? ['hash: { key: "header:x-user" }'] : [])];
      const { backend, s } = build(['{ name: a }', '{ name: b, weight: 3 }', '{ name: c }'], extra);
      const exclude = [s('b')];
      const seen = new Set<string>();
      for (let i = 0; i < 300; i++) {
        const name = pickName(backend, `user-${i}`, exclude);
        assert.notEqual(name, 'b');
        seen.add(name);
      }
      assert.deepEqual([...seen].sort(), ['a', 'c']);
      assert.equal(backend.select(undefined, 'user-1', [s('a'), s('b'), s('c')]), undefined);
    });
  }
});
