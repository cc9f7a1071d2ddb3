import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { loadConfigText } from '../src/config/load.js';
import type { BackendConfig } from '../src/config/schema.js';
import { ManualClock, seededRandom } from '../src/core/clock.js';
import { Backend } from '../src/upstream/backend.js';
import { HealthChecker, type HealthEvents } from '../src/upstream/health/checker.js';
import { healthPath, Prober, type ProbeResult } from '../src/upstream/health/probe.js';
import { HealthStateMachine, nextCheckDelay, type CheckOutcome, type Transition } from '../src/upstream/health/state-machine.js';
import type { UpstreamServer } from '../src/upstream/server.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';

const PASS: CheckOutcome = { pass: true, slow: false, reason: 'checks pass' };
const SLOW: CheckOutcome = { pass: true, slow: true, reason: 'latency 800ms above 500ms' };
const FAIL: CheckOutcome = { pass: false, slow: false, reason: 'status 503' };

describe('HealthStateMachine', () => {
  test('an up server goes down after exactly `fall` consecutive failures, and a pass in between resets the count', () => {
    const m = new HealthStateMachine(2, 3);
    assert.equal(m.state, 'up');
    assert.equal(m.record(FAIL), undefined);
    assert.equal(m.record(FAIL), undefined);
    assert.equal(m.state, 'up', 'two failures of three are not enough');
    assert.equal(m.record(PASS), undefined, 'a pass while up is no transition');
    assert.equal(m.streak, 0, 'a pass resets the count');
    assert.equal(m.record(FAIL), undefined);
    assert.equal(m.record(FAIL), undefined);
    assert.equal(m.state, 'up', 'the count started again after the pass');
    assert.deepEqual(m.record({ ...FAIL, reason: 'timeout after 1000ms' }), { from: 'up', to: 'down', reason: 'timeout after 1000ms' });
    assert.equal(m.state, 'down');
    assert.equal(m.streak, 0);
    assert.equal(m.record(FAIL), undefined, 'further failures while down change nothing');
    assert.equal(m.state, 'down');
  });

  test('fall: 1 takes a server down on the first failure', () => {
    const m = new HealthStateMachine(1, 1);
    assert.deepEqual(m.record(FAIL), { from: 'up', to: 'down', reason: 'status 503' });
    assert.deepEqual(m.record(PASS), { from: 'down', to: 'up', reason: 'checks pass' });
  });

  test('a down server comes up after exactly `rise` consecutive passes; a failure in between resets the count', () => {
    const m = new HealthStateMachine(3, 2, 'down');
    assert.equal(m.record(PASS), undefined);
    assert.equal(m.record(PASS), undefined);
    assert.equal(m.state, 'down', 'two passes of three are not enough');
    assert.equal(m.record(FAIL), undefined);
    assert.equal(m.streak, 0, 'a failure while rising resets the count');
    assert.equal(m.record(PASS), undefined);
    assert.equal(m.record(PASS), undefined);
    assert.equal(m.state, 'down');
    assert.deepEqual(m.record(PASS), { from: 'down', to: 'up', reason: 'checks pass' });
    assert.equal(m.state, 'up');
    assert.equal(m.streak, 0);
  });

  test('a server rising with slow passes comes back degraded', () => {
    const m = new HealthStateMachine(2, 2, 'down');
    assert.equal(m.record(SLOW), undefined);
    assert.deepEqual(m.record(SLOW), { from: 'down', to: 'degraded', reason: SLOW.reason });
  });

  test('a slow pass makes an up server degraded at once, and a fast pass makes it up at once', () => {
    const m = new HealthStateMachine(2, 3);
    assert.deepEqual(m.record(SLOW), { from: 'up', to: 'degraded', reason: SLOW.reason });
    assert.equal(m.state, 'degraded');
    assert.equal(m.record(SLOW), undefined, 'still slow: stays degraded, no new transition');
    assert.deepEqual(m.record(PASS), { from: 'degraded', to: 'up', reason: 'checks pass' });
    assert.equal(m.state, 'up');
  });

  test('a degraded server also goes down after `fall` failures', () => {
    const m = new HealthStateMachine(2, 2, 'degraded');
    assert.equal(m.record(FAIL), undefined);
    assert.deepEqual(m.record(FAIL), { from: 'degraded', to: 'down', reason: 'status 503' });
  });

  test('`changing` is true exactly while a change is being confirmed', () => {
    const m = new HealthStateMachine(2, 3);
    assert.equal(m.changing, false);
    m.record(FAIL);
    assert.equal(m.changing, true, 'first failure: a fall is being confirmed');
    m.record(FAIL);
    assert.equal(m.changing, true);
    m.record(PASS);
    assert.equal(m.changing, false, 'a pass ends the confirmation');
    m.record(FAIL);
    m.record(FAIL);
    m.record(FAIL);
    assert.equal(m.state, 'down');
    assert.equal(m.changing, false, 'down and stable');
    m.record(PASS);
    assert.equal(m.changing, true, 'down and rising');
    m.record(FAIL);
    assert.equal(m.changing, false, 'the rise was interrupted');
    m.record(PASS);
    m.record(PASS);
    assert.equal(m.state, 'up');
    assert.equal(m.changing, false);
  });
});

describe('nextCheckDelay', () => {
  const cfg = { interval: 2000, fastinter: 500, downinter: 10_000, jitter: 0.1 };
  const fixed = (v: number) => () => v;

  test('interval ± jitter: exactly 1800 … 2200 for interval 2000 and jitter 10%', () => {
    const m = new HealthStateMachine(2, 3);
    assert.equal(nextCheckDelay(m, cfg, fixed(0)), 1800);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 2000);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.9999999)), 2200);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.25)), 1900);
    const random = seededRandom(7);
    for (let i = 0; i < 1000; i++) {
      const d = nextCheckDelay(m, cfg, random);
      assert.ok(d >= 1800 && d <= 2200, `delay ${d} outside 1800…2200`);
    }
  });

  test('no jitter: exactly the interval whatever the random number', () => {
    const m = new HealthStateMachine(2, 3);
    for (const r of [0, 0.3, 0.5, 0.9999999]) assert.equal(nextCheckDelay(m, { ...cfg, jitter: 0 }, fixed(r)), 2000);
  });

  test('fastinter while a fall is being confirmed', () => {
    const m = new HealthStateMachine(2, 3);
    m.record(FAIL);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 500);
    assert.equal(nextCheckDelay(m, cfg, fixed(0)), 450);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.9999999)), 550);
  });

  test('downinter while down, fastinter while down but rising', () => {
    const m = new HealthStateMachine(2, 1);
    m.record(FAIL);
    assert.equal(m.state, 'down');
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 10_000);
    assert.equal(nextCheckDelay(m, cfg, fixed(0)), 9000);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.9999999)), 11_000);
    m.record(PASS);
    assert.equal(m.state, 'down');
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 500, 'rising: fastinter');
    m.record(PASS);
    assert.equal(m.state, 'up');
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 2000, 'up again: interval');
  });

  test('fastinter and downinter default to the interval', () => {
    const plain = { interval: 3000, jitter: 0 };
    const m = new HealthStateMachine(2, 1);
    assert.equal(nextCheckDelay(m, plain, fixed(0.5)), 3000);
    m.record(FAIL);
    assert.equal(m.state, 'down');
    assert.equal(nextCheckDelay(m, plain, fixed(0.5)), 3000, 'down without downinter');
    m.record(PASS);
    assert.equal(m.changing, true);
    assert.equal(nextCheckDelay(m, plain, fixed(0.5)), 3000, 'rising without fastinter');
    assert.equal(nextCheckDelay(m, { interval: 3000, fastinter: undefined, downinter: undefined, jitter: 0 }, fixed(0.5)), 3000);
  });

  test('the delay of a configured backend comes from its YAML', () => {
    const cfg = loadConfigText(
      `listeners: [{ name: public, address: "127.0.0.1:0" }]
backends:
  airflow:
    health: { interval: 2s, fastinter: 250ms, downinter: 5s, jitter: 10% }
    servers: [{ name: web-1, url: "http://127.0.0.1:1" }]
routes: [{ path: /, backend: airflow }]
`,
      'test.yaml',
    ).backends.airflow!.health;
    const m = new HealthStateMachine(2, 3);
    assert.equal(nextCheckDelay(m, cfg, fixed(0)), 1800);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.9999999)), 2200);
    m.record(FAIL);
    assert.equal(nextCheckDelay(m, cfg, fixed(0.5)), 250);
  });
});

// ---------------------------------------------------------------------------------------------

const URLS = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'];

function backendYaml(health: string, servers = URLS): string {
  return `listeners: [{ name: public, address: "127.0.0.1:0" }]
backends:
  airflow:
    health: ${health}
    servers:
${servers.map((u, i) => `      - { name: web-${i + 1}, url: "${u}" }`).join('\n')}
routes: [{ path: /, backend: airflow }]
`;
}

interface Recorded {
  transitions: { server: string; t: Transition; tookMs: number; probe: ProbeResult }[];
  cluster: { backend: string; reason: string | undefined }[];
}

interface Harness {
  clock: ManualClock;
  backend: Backend;
  checker: HealthChecker;
  rec: Recorded;
  s: (name: string) => UpstreamServer;
  close: () => Promise<void>;
}

function harness(health: string): Harness {
  const cfg = loadConfigText(backendYaml(health), 'test.yaml');
  const clock = new ManualClock(1_000_000);
  const random = seededRandom(1);
  const backend = new Backend('airflow', cfg.backends.airflow!, { clock, random });
  const rec: Recorded = { transitions: [], cluster: [] };
  const events: HealthEvents = {
    transition: (server, t, tookMs, probe) => rec.transitions.push({ server: server.name, t, tookMs, probe }),
    cluster: (b, reason) => rec.cluster.push({ backend: b, reason }),
  };
  const checker = new HealthChecker('airflow', backend.servers, backend.config, { clock, random }, events);
  return {
    clock,
    backend,
    checker,
    rec,
    s: (name) => backend.server(name)!,
    close: async () => {
      await checker.stop();
      await backend.destroy();
    },
  };
}

const healthy = (latencyMs = 5): ProbeResult => ({ answered: true, reason: 'ok', latencyMs, components: { metadatabase: true, scheduler: true } });
const schedulerDown = (): ProbeResult => ({ answered: true, reason: 'ok', latencyMs: 5, components: { metadatabase: true, scheduler: false } });
const metadbDown = (): ProbeResult => ({ answered: true, reason: 'ok', latencyMs: 5, components: { metadatabase: false, scheduler: false } });
const timedOut = (): ProbeResult => ({ answered: false, reason: 'timeout after 1000ms', latencyMs: 1000 });

describe('HealthChecker.apply', () => {
  test('the first node to notice a cluster-wide scheduler failure is not taken out while its peers have not been checked again', async () => {
    const h = harness('{ interval: 2s, fastinter: 200ms, rise: 2, fall: 3 }');
    try {
      for (const n of ['web-1', 'web-2', 'web-3']) h.checker.apply(h.s(n), healthy());
      h.clock.advance(1000);
      for (let i = 0; i < 3; i++) {
        assert.equal(h.checker.apply(h.s('web-1'), schedulerDown()), undefined, 'peers’ results are older than the failure: undecided');
        h.clock.advance(200);
      }
      assert.equal(h.s('web-1').health, 'up');
      h.clock.advance(400);
      h.checker.apply(h.s('web-2'), schedulerDown());
      h.checker.apply(h.s('web-3'), schedulerDown());
      h.checker.apply(h.s('web-1'), schedulerDown());
      assert.deepEqual(
        ['web-1', 'web-2', 'web-3'].map((n) => h.s(n).health),
        ['up', 'up', 'up'],
      );
      assert.equal(h.checker.clusterDegraded, 'scheduler unhealthy on every server');
      assert.deepEqual(h.rec.transitions, [], 'no node went down');
    } finally {
      await h.close();
    }
  });

  test('a node whose scheduler is unhealthy while its peers report healthy goes down after `fall` results', async () => {
    const h = harness('{ rise: 2, fall: 3 }');
    try {
      const web2 = h.s('web-2');
      for (const n of ['web-1', 'web-2', 'web-3']) assert.equal(h.checker.apply(h.s(n), healthy()), undefined);
      assert.equal(web2.health, 'up');

      const first = h.clock.now();
      assert.equal(h.checker.apply(web2, schedulerDown()), undefined);
      assert.equal(web2.health, 'up', 'one failing result is not enough');
      h.clock.advance(700);
      h.checker.apply(h.s('web-1'), healthy());
      assert.equal(h.checker.apply(web2, schedulerDown()), undefined);
      assert.equal(web2.health, 'up');
      assert.equal(web2.available(h.clock.now()), true, 'still in rotation while the fall is being confirmed');
      h.clock.advance(800);
      h.checker.apply(h.s('web-3'), healthy());
      const t = h.checker.apply(web2, schedulerDown());
      assert.ok(t, 'the third failing result takes it down');
      assert.equal(t.from, 'up');
      assert.equal(t.to, 'down');
      assert.match(t.reason, /scheduler unhealthy on this node only/);

      assert.equal(web2.health, 'down');
      assert.equal(web2.available(h.clock.now()), false);
      assert.equal(web2.status(h.clock.now()), 'down');
      assert.equal(h.s('web-1').available(h.clock.now()), true);
      assert.equal(h.s('web-3').health, 'up');

      assert.equal(h.rec.transitions.length, 1);
      const ev = h.rec.transitions[0]!;
      assert.equal(ev.server, 'web-2');
      assert.deepEqual(ev.t, t);
      assert.equal(ev.tookMs, h.clock.now() - first, 'tookMs runs from the first failing result');
      assert.equal(ev.tookMs, 1500);
      assert.equal(ev.probe.components?.scheduler, false);
      assert.deepEqual(h.rec.cluster, [], 'one sick node is not a sick cluster');
      assert.equal(h.checker.clusterDegraded, undefined);
      for (let i = 0; i < 10; i++) {
        const picked = h.backend.select(undefined, undefined, undefined);
        assert.ok(picked && picked !== 'full');
        assert.notEqual(picked.name, 'web-2', 'the balancer never picks a down server');
      }
    } finally {
      await h.close();
    }
  });

  test('a down node comes back after `rise` passes; tookMs spans the rise and returnedAt is set', async () => {
    const h = harness('{ rise: 2, fall: 1 }');
    try {
      const web1 = h.s('web-1');
      assert.equal(h.checker.apply(web1, timedOut())?.to, 'down');
      assert.equal(h.rec.transitions[0]!.tookMs, 0, 'fall: 1 decides on the first result');
      h.clock.advance(5000);
      const rising = h.clock.now();
      assert.equal(h.checker.apply(web1, healthy()), undefined);
      assert.equal(web1.health, 'down');
      h.clock.advance(250);
      const t = h.checker.apply(web1, healthy());
      assert.deepEqual(t, { from: 'down', to: 'up', reason: 'checks pass' });
      assert.equal(web1.health, 'up');
      assert.equal(web1.available(h.clock.now()), true);
      assert.equal(web1.returnedAt, h.clock.now());
      assert.equal(h.rec.transitions[1]!.tookMs, h.clock.now() - rising);
      assert.equal(h.rec.transitions[1]!.tookMs, 250);
    } finally {
      await h.close();
    }
  });

  test('every node reporting the scheduler unhealthy: none goes down, the cluster is degraded, then healthy again', async () => {
    const h = harness('{ rise: 2, fall: 3 }');
    try {
      const names = ['web-1', 'web-2', 'web-3'];
      for (const n of names) h.checker.apply(h.s(n), healthy());
      for (let round = 0; round < 5; round++) {
        for (const n of names) {
          h.clock.advance(100);
          h.checker.apply(h.s(n), schedulerDown());
        }
      }
      for (const n of names) {
        assert.equal(h.s(n).health, 'up', `${n} stays up`);
        assert.equal(h.s(n).available(h.clock.now()), true);
      }
      assert.deepEqual(h.rec.transitions, [], 'no node changed state');
      assert.equal(h.checker.clusterDegraded, 'scheduler unhealthy on every server');
      assert.deepEqual(h.rec.cluster, [{ backend: 'airflow', reason: 'scheduler unhealthy on every server' }], 'reported once');

      for (const n of names) h.checker.apply(h.s(n), healthy());
      assert.equal(h.checker.clusterDegraded, undefined);
      assert.deepEqual(h.rec.cluster.at(-1), { backend: 'airflow', reason: undefined });
      assert.equal(h.rec.cluster.length, 2);
      assert.deepEqual(h.rec.transitions, []);
    } finally {
      await h.close();
    }
  });

  test('every node reporting the metadatabase unhealthy: none goes down, the cluster is degraded, then healthy again', async () => {
    const h = harness('{ rise: 2, fall: 2 }');
    try {
      const names = ['web-1', 'web-2', 'web-3'];
      for (let round = 0; round < 4; round++) for (const n of names) h.checker.apply(h.s(n), metadbDown());
      for (const n of names) assert.equal(h.s(n).health, 'up', `${n} stays up`);
      assert.deepEqual(h.rec.transitions, []);
      assert.equal(h.checker.clusterDegraded, 'metadatabase unhealthy on every server');
      assert.equal(h.rec.cluster.length, 1);
      assert.match(h.rec.cluster[0]!.reason ?? '', /metadatabase unhealthy/);

      for (const n of names) h.checker.apply(h.s(n), healthy());
      assert.equal(h.checker.clusterDegraded, undefined);
      assert.deepEqual(h.rec.cluster, [
        { backend: 'airflow', reason: 'metadatabase unhealthy on every server' },
        { backend: 'airflow', reason: undefined },
      ]);
    } finally {
      await h.close();
    }
  });

  test('unanswered checks (timeouts) take a node down after `fall` results, with the probe reason', async () => {
    const h = harness('{ rise: 2, fall: 3 }');
    try {
      const web3 = h.s('web-3');
      const first = h.clock.now();
      assert.equal(h.checker.apply(web3, timedOut()), undefined);
      h.clock.advance(1000);
      assert.equal(h.checker.apply(web3, timedOut()), undefined);
      assert.equal(web3.health, 'up');
      h.clock.advance(1000);
      const t = h.checker.apply(web3, timedOut());
      assert.deepEqual(t, { from: 'up', to: 'down', reason: 'timeout after 1000ms' });
      assert.equal(web3.health, 'down');
      assert.equal(web3.available(h.clock.now()), false);
      assert.equal(h.rec.transitions[0]!.tookMs, h.clock.now() - first);
      assert.equal(h.rec.transitions[0]!.tookMs, 2000);
      assert.equal(h.rec.transitions[0]!.probe.answered, false);
      assert.deepEqual(h.rec.cluster, [], 'an unanswered check says nothing about the cluster');
    } finally {
      await h.close();
    }
  });

  test('tookMs counts from the first result of the streak that succeeded, not an interrupted one', async () => {
    const h = harness('{ rise: 2, fall: 2 }');
    try {
      const web1 = h.s('web-1');
      h.checker.apply(web1, timedOut());
      h.clock.advance(10_000);
      h.checker.apply(web1, healthy()); // interrupts the fall
      h.clock.advance(3000);
      const first = h.clock.now();
      h.checker.apply(web1, timedOut());
      h.clock.advance(400);
      assert.equal(h.checker.apply(web1, timedOut())?.to, 'down');
      assert.equal(h.rec.transitions[0]!.tookMs, h.clock.now() - first);
      assert.equal(h.rec.transitions[0]!.tookMs, 400);
    } finally {
      await h.close();
    }
  });

  test('slow_threshold: a slow answer makes the server degraded (still in rotation), a fast one up again', async () => {
    const h = harness('{ rise: 2, fall: 3, slow_threshold: 500ms }');
    try {
      const web1 = h.s('web-1');
      assert.equal(h.checker.apply(web1, healthy(499)), undefined, 'below the threshold: up');
      const t = h.checker.apply(web1, healthy(812));
      assert.ok(t);
      assert.equal(t.from, 'up');
      assert.equal(t.to, 'degraded');
      assert.match(t.reason, /latency 812ms above 500ms/);
      assert.equal(web1.health, 'degraded');
      assert.equal(web1.available(h.clock.now()), true, 'degraded servers stay in rotation');
      assert.equal(web1.status(h.clock.now()), 'degraded');
      assert.equal(h.checker.apply(web1, healthy(20))?.to, 'up');
      assert.equal(web1.health, 'up');
      assert.deepEqual(
        h.rec.transitions.map((e) => `${e.t.from}->${e.t.to}`),
        ['up->degraded', 'degraded->up'],
      );
    } finally {
      await h.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

function proberFor(url: string, keys: string): { prober: Prober; cfg: BackendConfig } {
  const cfg = loadConfigText(
    `listeners: [{ name: public, address: "127.0.0.1:0" }]
backends:
  airflow:
${keys
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
    servers: [{ name: web-1, url: "${url}" }]
routes: [{ path: /, backend: airflow }]
`,
    'test.yaml',
  ).backends.airflow!;
  return { prober: new Prober(cfg), cfg };
}

const now = () => performance.now();

describe('Prober against a simulated Airflow', () => {
  test('Airflow 2, healthy: answered, with metadatabase and scheduler healthy', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const { prober } = proberFor(sim.url, 'airflow: 2');
    try {
      const r = await prober.probe(sim.url, now);
      assert.equal(r.answered, true, r.reason);
      assert.deepEqual(r.components, { metadatabase: true, scheduler: true });
      assert.ok(r.latencyMs >= 0 && r.latencyMs < 1000, `latency ${r.latencyMs}`);
      assert.equal(sim.healthRequests, 1, 'the check is counted as a health check by the sim');
      assert.equal(sim.requests, 0);
    } finally {
      await prober.close();
      await sim.stop();
    }
  });

  test('Airflow 2 with the scheduler or the metadatabase unhealthy: answered (status 200), components say so', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const { prober } = proberFor(sim.url, 'airflow: 2');
    try {
      sim.setFaults({ schedulerUnhealthy: true });
      const s = await prober.probe(sim.url, now);
      assert.equal(s.answered, true, s.reason);
      assert.deepEqual(s.components, { metadatabase: true, scheduler: false });
      sim.setFaults({ schedulerUnhealthy: false, metadbUnhealthy: true });
      const m = await prober.probe(sim.url, now);
      assert.equal(m.answered, true, m.reason);
      assert.equal(m.components?.metadatabase, false);
    } finally {
      await prober.close();
      await sim.stop();
    }
  });

  test('Airflow 2 answering 503: not answered, reason "status 503"', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const { prober } = proberFor(sim.url, 'airflow: 2');
    try {
      sim.setFaults({ unavailable: true });
      const r = await prober.probe(sim.url, now);
      assert.equal(r.answered, false);
      assert.equal(r.reason, 'status 503');
    } finally {
      await prober.close();
      await sim.stop();
    }
  });

  test('Airflow 3: the check goes to /api/v2/monitor/health', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1', airflow: 3 }).start();
    const three = proberFor(sim.url, 'airflow: 3');
    const two = proberFor(sim.url, 'airflow: 2');
    try {
      assert.equal(healthPath(three.cfg), '/api/v2/monitor/health');
      const r = await three.prober.probe(sim.url, now);
      assert.equal(r.answered, true, r.reason);
      assert.deepEqual(r.components, { metadatabase: true, scheduler: true });
      sim.setFaults({ metadbUnhealthy: true });
      const m = await three.prober.probe(sim.url, now);
      assert.equal(m.components?.metadatabase, false);
      // The Airflow 2 path does not exist on Airflow 3 (404): proof the path above was the v2 API's.
      const wrong = await two.prober.probe(sim.url, now);
      assert.equal(wrong.answered, false);
      assert.equal(wrong.reason, 'status 404');
    } finally {
      await three.prober.close();
      await two.prober.close();
      await sim.stop();
    }
  });

  test('generic mode: an unexpected status fails with a reason naming it', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const bad = proberFor(sim.url, 'airflow: none\nhealth: { path: "/_sim/status?code=503", expect: { status: [200] } }');
    const good = proberFor(sim.url, 'airflow: none\nhealth: { path: "/_sim/status?code=202", expect: { status: [200, 202] } }');
    try {
      const r = await bad.prober.probe(sim.url, now);
      assert.equal(r.answered, false);
      assert.match(r.reason, /status 503/);
      assert.equal(r.components, undefined);
      const ok = await good.prober.probe(sim.url, now);
      assert.equal(ok.answered, true, ok.reason);
    } finally {
      await bad.prober.close();
      await good.prober.close();
      await sim.stop();
    }
  });

  test('generic mode: a JSON expectation on /api/v2/version passes when the value matches and fails naming the path otherwise', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1', airflow: 3 }).start();
    const right = proberFor(sim.url, 'airflow: none\nhealth: { path: /api/v2/version, expect: { json: { version: "3.1.0" } } }');
    const wrong = proberFor(sim.url, 'airflow: none\nhealth: { path: /api/v2/version, expect: { json: { version: "2.10.0" } } }');
    const regex = proberFor(sim.url, 'airflow: none\nhealth: { path: /api/v2/version, expect: { body: "\\"version\\":\\"9" } }');
    try {
      const ok = await right.prober.probe(sim.url, now);
      assert.equal(ok.answered, true, ok.reason);
      const no = await wrong.prober.probe(sim.url, now);
      assert.equal(no.answered, false);
      assert.match(no.reason, /^version is "3\.1\.0", expected "2\.10\.0"$/);
      const body = await regex.prober.probe(sim.url, now);
      assert.equal(body.answered, false);
      assert.match(body.reason, /body does not match/);
    } finally {
      await right.prober.close();
      await wrong.prober.close();
      await regex.prober.close();
      await sim.stop();
    }
  });

  test('a hung server: not answered, "timeout after 200ms", within the timeout plus a margin', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const { prober } = proberFor(sim.url, 'health: { timeout: 200ms }');
    try {
      sim.setFaults({ hang: true });
      const started = performance.now();
      const r = await prober.probe(sim.url, now);
      const elapsed = performance.now() - started;
      assert.equal(r.answered, false);
      assert.equal(r.reason, 'timeout after 200ms');
      assert.ok(elapsed >= 190, `gave up after ${Math.round(elapsed)}ms, before the timeout`);
      assert.ok(elapsed < 200 + 800, `gave up after ${Math.round(elapsed)}ms`);
      assert.ok(Math.abs(r.latencyMs - elapsed) < 50, `latency ${r.latencyMs} vs measured ${elapsed}`);
    } finally {
      await prober.close();
      await sim.stop();
    }
  });

  test('a closed port: not answered, "connection failed"', async () => {
    const sim = await new SimulatedAirflow({ name: 'web-1' }).start();
    const url = sim.url;
    await sim.stop();
    const { prober } = proberFor(url, 'health: { timeout: 500ms }');
    try {
      const r = await prober.probe(url, now);
      assert.equal(r.answered, false);
      assert.match(r.reason, /^connection failed: ECONNREFUSED/);
    } finally {
      await prober.close();
    }
  });
});
