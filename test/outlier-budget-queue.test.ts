import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend, FULL } from '../src/upstream/backend.js';
import type { UpstreamServer } from '../src/upstream/server.js';
import { RetryBudget } from '../src/upstream/retry-budget.js';
import { WaitQueue, type Waiter } from '../src/upstream/wait-queue.js';
import { ManualClock, seededRandom } from '../src/core/clock.js';
import { backendFromYaml, tally } from './helpers/backend.js';

const open: Backend[] = [];
const queues: WaitQueue[] = [];
afterEach(async () => {
  // Even when a test fails midway: no queue timer or upstream pool outlives its test.
  for (const q of queues.splice(0)) q.clear();
  await Promise.all(open.splice(0).map((b) => b.destroy()));
});

function newQueue(size: number, timeoutMs: number): WaitQueue {
  const q = new WaitQueue(size, timeoutMs);
  queues.push(q);
  return q;
}

interface Built {
  backend: Backend;
  clock: ManualClock;
  ejections: { server: string; forMs: number }[];
  s: (name: string) => UpstreamServer;
}

function build(serverCount: number, extra: string[] = [], start = 1_000_000): Built {
  const clock = new ManualClock(start);
  const ejections: Built['ejections'] = [];
  const backend = backendFromYaml([...extra, 'servers:', ...Array.from({ length: serverCount }, (_, i) => `  - { name: web-${i + 1}, url: "http://127.0.0.1:${i + 1}" }`)], {
    clock,
    random: seededRandom(17),
    onEject: (server, forMs) => ejections.push({ server: server.name, forMs }),
  });
  open.push(backend);
  return { backend, clock, ejections, s: (name) => backend.server(name)! };
}

const OUTLIER = 'outlier: { consecutive_errors: 3, base_ejection: 30s, max_ejected: 50% }';

function fail(b: Built, server: UpstreamServer, times: number): void {
  for (let i = 0; i < times; i++) b.backend.outlier.failure(server, b.clock.now());
}

describe('outlier detection', () => {
  test('ejects after consecutive_errors failures in a row, not before', () => {
    const b = build(3, ['balance: round-robin', OUTLIER]);
    const web1 = b.s('web-1');
    fail(b, web1, 2);
    assert.equal(web1.available(b.clock.now()), true);
    assert.deepEqual(b.ejections, []);
    assert.deepEqual(tally(b.backend, 30), { 'web-1': 10, 'web-2': 10, 'web-3': 10 });
    fail(b, web1, 1);
    assert.equal(web1.available(b.clock.now()), false);
    assert.equal(web1.ejectedUntil, b.clock.now() + 30_000);
    assert.deepEqual(b.ejections, [{ server: 'web-1', forMs: 30_000 }]);
    assert.deepEqual(tally(b.backend, 30), { 'web-2': 15, 'web-3': 15 });
  });

  test('a success resets the count of consecutive failures', () => {
    const b = build(3, [OUTLIER]);
    const web1 = b.s('web-1');
    fail(b, web1, 2);
    b.backend.outlier.success(web1);
    fail(b, web1, 2);
    assert.equal(web1.available(b.clock.now()), true, 'two failures, a success, two failures: still in');
    b.backend.outlier.success(web1);
    fail(b, web1, 2);
    assert.equal(web1.available(b.clock.now()), true);
    fail(b, web1, 1);
    assert.equal(web1.available(b.clock.now()), false, 'third failure in a row ejects');
  });

  test('failures reported while ejected (requests started before) do not count once the server is back', () => {
    const b = build(3, [OUTLIER]);
    const web1 = b.s('web-1');
    fail(b, web1, 3);
    fail(b, web1, 10); // the requests that were under way when it was ejected fail too
    b.clock.advance(30_000);
    assert.equal(web1.available(b.clock.now()), true);
    fail(b, web1, 2);
    assert.equal(web1.available(b.clock.now()), true, 'two failures after its return do not eject it');
    fail(b, web1, 1);
    assert.equal(web1.available(b.clock.now()), false, 'the third does');
    assert.equal(web1.ejectedUntil - b.clock.now(), 60_000);
  });

  test('the ejection time is base × number of ejections: 30s, 60s, 90s … capped at 10× (300s)', () => {
    const b = build(3, [OUTLIER]);
    const web1 = b.s('web-1');
    const seen: number[] = [];
    for (let k = 1; k <= 13; k++) {
      fail(b, web1, 3);
      const forMs = web1.ejectedUntil - b.clock.now();
      seen.push(forMs / 1000);
      // Failures reported while it is ejected (requests already under way) do not extend the ejection.
      fail(b, web1, 5);
      assert.equal(web1.ejectedUntil - b.clock.now(), forMs);
      b.clock.advance(forMs);
      assert.equal(web1.available(b.clock.now()), true);
      b.backend.outlier.success(web1);
    }
    assert.deepEqual(seen, [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300, 300]);
    assert.deepEqual(
      b.ejections.map((e) => e.forMs / 1000),
      seen,
    );
  });

  test('never more than max_ejected: 4 servers at 50% → at most 2 out at once', () => {
    const b = build(4, [OUTLIER]);
    for (const s of b.backend.servers) fail(b, s, 3);
    const out = () => b.backend.servers.filter((s) => !s.available(b.clock.now())).map((s) => s.name);
    assert.deepEqual(out(), ['web-1', 'web-2']);
    // More failures of the others change nothing while two are out.
    fail(b, b.s('web-3'), 10);
    assert.deepEqual(out(), ['web-1', 'web-2']);
    assert.deepEqual(tally(b.backend, 20), { 'web-3': 10, 'web-4': 10 });
    // Once the first two are back, the next failure of web-3 ejects it.
    b.clock.advance(30_000);
    assert.deepEqual(out(), []);
    fail(b, b.s('web-3'), 1);
    assert.deepEqual(out(), ['web-3']);
  });

  test('never more than max_ejected: 2 servers at 50% → 1; a lone server is never ejected', () => {
    const two = build(2, [OUTLIER]);
    for (const s of two.backend.servers) fail(two, s, 3);
    assert.deepEqual(
      two.backend.servers.map((s) => s.available(two.clock.now())),
      [false, true],
    );
    assert.equal(tally(two.backend, 5)['web-2'], 5);

    const one = build(1, [OUTLIER]);
    fail(one, one.s('web-1'), 50);
    assert.equal(one.s('web-1').available(one.clock.now()), true);
    assert.deepEqual(one.ejections, []);
  });

  test('an ejected server is not selected until its ejection ends; its slow start begins then', () => {
    const b = build(2, ['balance: round-robin', 'slow_start: 30s', OUTLIER]);
    const web1 = b.s('web-1');
    const ejectedAt = b.clock.now();
    fail(b, web1, 3);
    assert.equal(web1.ejectedUntil, ejectedAt + 30_000);
    assert.equal(web1.returnedAt, web1.ejectedUntil, 'the ramp starts when the ejection ends');

    b.clock.advance(29_999);
    assert.deepEqual(tally(b.backend, 100), { 'web-2': 100 });

    b.clock.advance(1); // ejection over: back, at 5 % of its weight
    assert.equal(web1.effectiveWeight(b.clock.now(), 30_000), 0.05);
    const justBack = tally(b.backend, 2000);
    assert.ok((justBack['web-1'] ?? 0) > 0 && (justBack['web-1'] ?? 0) < 200, JSON.stringify(justBack));

    b.clock.advance(30_000); // ramp over: half the traffic
    assert.equal(web1.effectiveWeight(b.clock.now(), 30_000), 1);
    assert.deepEqual(tally(b.backend, 2000), { 'web-1': 1000, 'web-2': 1000 });
    console.log(`outlier: web-1 got ${justBack['web-1']} of 2000 picks right after its ejection, 1000 after 30s`);
  });
});

describe('retry budget', () => {
  test('20% of 100 requests plus 3: 23 retries, then refused; allowed again once the 10s window rolled', () => {
    const b = build(2, ['retries: { budget: 20% }']);
    const budget = b.backend.budget;
    for (let i = 0; i < 100; i++) budget.request(b.clock.now());
    const granted = Array.from({ length: 30 }, () => budget.tryRetry(b.clock.now())).filter(Boolean).length;
    assert.equal(granted, 23);
    assert.equal(budget.tryRetry(b.clock.now()), false);

    b.clock.advance(9_999); // still inside the 10s window
    assert.equal(budget.tryRetry(b.clock.now()), false);

    b.clock.advance(1); // the requests and retries of 10s ago have left the window
    assert.equal(budget.tryRetry(b.clock.now()), true);
    assert.equal(budget.tryRetry(b.clock.now()), true);
    assert.equal(budget.tryRetry(b.clock.now()), true);
    assert.equal(budget.tryRetry(b.clock.now()), false, 'no requests in the window: the floor of 3 only');
  });

  test('the window slides one second at a time', () => {
    const budget = new RetryBudget(0.5);
    let now = 0;
    for (let i = 0; i < 10; i++) budget.request(now); // t=0: 10 requests → 5 + 3 retries
    now = 5_000;
    for (let i = 0; i < 10; i++) budget.request(now); // t=5s: 20 requests in the window → 10 + 3
    let granted = 0;
    while (budget.tryRetry(now)) granted++;
    assert.equal(granted, 13);
    now = 10_000; // the t=0 requests left, the retries taken at t=5s are still counted: 13 ≥ 0.5 × 10 + 3
    assert.equal(budget.tryRetry(now), false);
    now = 15_000; // everything left
    assert.equal(budget.tryRetry(now), true);
  });
});

class TestWaiter implements Waiter {
  waiting = true;
  server: UpstreamServer | undefined;
  timedOutCount = 0;
  readonly timedOutAt: Promise<number>;
  private resolveTimedOut!: (at: number) => void;
  constructor(
    readonly id: string,
    readonly hashKey: string | undefined = undefined,
    private readonly log: string[] = [],
  ) {
    this.timedOutAt = new Promise((resolve) => (this.resolveTimedOut = resolve));
  }
  dequeued(server: UpstreamServer): void {
    this.server = server;
    this.log.push(`${this.id}→${server.name}`);
  }
  timedOut(): void {
    this.timedOutCount++;
    this.log.push(`${this.id} timed out`);
    this.resolveTimedOut(performance.now());
  }
}

/** Starts its request on the server it is given (takes a lease), as the proxy's exchange does. */
class StartingWaiter extends TestWaiter {
  override dequeued(server: UpstreamServer): void {
    server.lease();
    super.dequeued(server);
  }
}

describe('wait queue', () => {
  test('bounded: enqueue returns false when full', () => {
    const q = newQueue(2, 60_000);
    assert.equal(q.enqueue(new TestWaiter('1')), true);
    assert.equal(q.enqueue(new TestWaiter('2')), true);
    assert.equal(q.enqueue(new TestWaiter('3')), false);
    assert.equal(q.length, 2);
    q.clear();
    assert.equal(newQueue(0, 60_000).enqueue(new TestWaiter('x')), false);
  });

  test('a waiter that went away frees its place for a new one', () => {
    const q = newQueue(1, 60_000);
    const gone = new TestWaiter('gone');
    assert.equal(q.enqueue(gone), true);
    gone.waiting = false;
    assert.equal(q.enqueue(new TestWaiter('next')), true);
    assert.equal(q.length, 1);
    q.clear();
    assert.equal(gone.timedOutCount, 0);
  });

  test('serve hands servers out in FIFO order, skipping waiters that went away, until choose finds none', () => {
    const b = build(3, ['balance: round-robin']);
    const q = newQueue(10, 60_000);
    const log: string[] = [];
    const w = ['a', 'b', 'c', 'd', 'e'].map((id) => new TestWaiter(id, undefined, log));
    for (const x of w) assert.equal(q.enqueue(x), true);
    w[1]!.waiting = false; // b's client went away
    w[3]!.waiting = false; // so did d's
    const free = [b.s('web-1'), b.s('web-2')];
    q.serve(() => free.shift() ?? FULL);
    assert.deepEqual(log, ['a→web-1', 'c→web-2']);
    assert.equal(q.length, 1, 'd (gone) was dropped; e waits for the next free server');
    q.serve(() => b.s('web-3'));
    assert.deepEqual(log, ['a→web-1', 'c→web-2', 'e→web-3']);
    assert.equal(q.length, 0);
    q.serve(() => assert.fail('choose is not called on an empty queue'));
    for (const x of w) assert.equal(x.timedOutCount, 0);
  });

  test('a waiter still waiting after the timeout is told so; one that went away is not', async () => {
    const q = newQueue(10, 30);
    const log: string[] = [];
    const gone = new TestWaiter('gone', undefined, log);
    const waiter = new TestWaiter('w', undefined, log);
    const start = performance.now();
    q.enqueue(gone);
    q.enqueue(waiter);
    gone.waiting = false;
    const at = await waiter.timedOutAt;
    assert.ok(at - start >= 25, `timed out after ${at - start} ms`);
    assert.deepEqual(log, ['w timed out']);
    assert.equal(q.length, 0);
    assert.equal(waiter.server, undefined);
  });

  test('a waiter served before its timeout never times out', async () => {
    const b = build(1);
    const q = newQueue(10, 30);
    const served = new TestWaiter('served');
    const sentinel = new TestWaiter('sentinel');
    q.enqueue(served);
    q.serve(() => b.s('web-1'));
    assert.equal(served.server?.name, 'web-1');
    q.enqueue(sentinel); // enqueued later with the same timeout: its expiry comes after served's would have
    await sentinel.timedOutAt;
    assert.equal(served.timedOutCount, 0);
  });

  test('clear() times out everyone still waiting, at once', () => {
    const q = newQueue(10, 60_000);
    const log: string[] = [];
    const w = ['a', 'b', 'c'].map((id) => new TestWaiter(id, undefined, log));
    for (const x of w) q.enqueue(x);
    w[1]!.waiting = false;
    q.clear();
    assert.deepEqual(log, ['a timed out', 'c timed out']);
    assert.equal(q.length, 0);
  });
});

describe('wait queue through Backend', () => {
  function buildFull(): Built {
    const clock = new ManualClock(0);
    const backend = backendFromYaml(['balance: least-conn', 'queue: { size: 2, timeout: 1m }', 'servers:', '  - { name: web-1, url: "http://127.0.0.1:1", max_connections: 1 }', '  - { name: web-2, url: "http://127.0.0.1:2", max_connections: 1 }'], {
      clock,
      random: seededRandom(1),
    });
    open.push(backend);
    return { backend, clock, ejections: [], s: (name) => backend.server(name)! };
  }

  test('release hands the freed server to the longest-waiting request, which starts on it', () => {
    const { backend, s } = buildFull();
    const web1 = backend.acquire(s('web-1'));
    const web2 = backend.acquire(s('web-2'));
    assert.equal(backend.select(undefined, undefined, undefined), FULL);
    const log: string[] = [];
    // A waiter that starts its request on the server it is given, as the proxy does.
    const waiter = (id: string) => new StartingWaiter(id, undefined, log);
    assert.equal(backend.queue.enqueue(waiter('first')), true);
    assert.equal(backend.queue.enqueue(waiter('second')), true);
    assert.equal(backend.queue.enqueue(waiter('third')), false, 'queue size 2');

    web2.release();
    assert.deepEqual(log, ['first→web-2']);
    assert.equal(s('web-2').inflight, 1);
    assert.equal(backend.queue.length, 1);

    web1.release();
    assert.deepEqual(log, ['first→web-2', 'second→web-1']);
    assert.equal(backend.queue.length, 0);
  });

  test('destroy times out the requests still waiting', async () => {
    const { backend, s } = buildFull();
    backend.acquire(s('web-1'));
    backend.acquire(s('web-2'));
    const w = new TestWaiter('w');
    backend.queue.enqueue(w);
    open.splice(open.indexOf(backend), 1);
    await backend.destroy();
    assert.equal(w.timedOutCount, 1);
  });
});
