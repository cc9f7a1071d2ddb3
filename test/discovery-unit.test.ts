import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../src/config/load.js';
import { ConfigError, formatIssue } from '../src/config/config-error.js';
import type { AirgateConfig } from '../src/config/schema.js';
import { ManualClock } from '../src/core/clock.js';
import { Backend, FULL } from '../src/upstream/backend.js';
import { lookup, nextDelay, type DnsClient } from '../src/upstream/discovery/dns.js';
import { DnsDiscovery, type Timers } from '../src/upstream/discovery/dns-discovery.js';
import { reconcile, serverName, wantedServers } from '../src/upstream/discovery/reconcile.js';
import { applyDiscovered } from '../src/upstream/discovery/manager.js';

const config = (discovery: string, servers = '') =>
  `listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  airflow:
${servers}
    discovery: { ${discovery} }
    slow_start: 10s
routes:
  - path: /
    backend: airflow
`;

function errorsOf(yaml: string): string[] {
  try {
    loadConfigText(yaml, 'airgate.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map(formatIssue);
  }
  assert.fail('the configuration was accepted');
}

const load = (discovery: string): AirgateConfig => loadConfigText(config(discovery), 'airgate.yaml');
const dcfg = (discovery: string) => load(discovery).backends.airflow!.discovery!;
const silent = { warn: () => undefined, info: () => undefined };

test('discovery config: defaults, and clear errors for a missing port, a port with SRV, a bad nameserver, no servers at all', () => {
  const d = dcfg('dns: web.airflow.svc.cluster.local, port: 8080');
  assert.deepEqual({ type: d.type, interval: d.interval, min: d.min_interval, tries: d.tries, max: d.max_servers, scheme: d.scheme }, { type: 'A', interval: 30_000, min: 1_000, tries: 2, max: 64, scheme: 'http' });
  assert.deepEqual(dcfg('dns: x.test, port: 80, resolvers: ["10.96.0.10", "127.0.0.1:5353", "[::1]:53"]').resolvers, ['10.96.0.10', '127.0.0.1:5353', '[::1]:53']);
  assert.match(errorsOf(config('dns: x.test')).join('\n'), /backends\.airflow\.discovery\.port.*type A needs the servers' port/);
  assert.match(errorsOf(config('dns: _http._tcp.x.test, type: SRV, port: 80')).join('\n'), /discovery\.port.*type SRV takes the port from each SRV answer/);
  assert.match(errorsOf(config('dns: x.test, port: 80, resolvers: ["dns.example.com"]')).join('\n'), /airgate\.yaml:7:\d+: backends\.airflow\.discovery\.resolvers\[0\]: expected a nameserver IP address.*found string "dns\.example\.com"/);
  assert.match(errorsOf(config('dns: x.test, port: 80, min_interval: 5s, interval: 1s')).join('\n'), /min_interval.*not above interval/);
  const none = `listeners:\n  - name: p\n    address: 127.0.0.1:0\nbackends:\n  airflow: {}\nroutes:\n  - { path: /, backend: airflow }\n`;
  assert.match(errorsOf(none).join('\n'), /backends\.airflow\.servers.*expected at least one server \(or a discovery section/);
});

test('wantedServers: names by address, IPv6 in brackets, deduplicated, sorted, capped; SRV priorities become tiers', () => {
  const d = dcfg('dns: x.test, port: 8080, max_servers: 3');
  const w = wantedServers(
    [
      { address: '10.0.0.9', port: 8080, priority: 0 },
      { address: '10.0.0.5', port: 8080, priority: 0 },
      { address: '10.0.0.5', port: 8080, priority: 0 },
      { address: 'fd00::5', port: 8080, priority: 0 },
      { address: '10.0.0.7', port: 8080, priority: 0 },
    ],
    d,
  );
  assert.deepEqual(
    w.map((s) => `${s.name} ${s.url.origin}`),
    ['10.0.0.5-8080 http://10.0.0.5:8080', '10.0.0.7-8080 http://10.0.0.7:8080', '10.0.0.9-8080 http://10.0.0.9:8080'],
  );
  assert.equal(serverName('fd00::5', 8080), 'fd00--5-8080');
  assert.equal(wantedServers([{ address: 'fd00::5', port: 8080, priority: 0 }], d)[0]!.url.origin, 'http://[fd00::5]:8080');
  const srv = wantedServers(
    [
      { address: '10.0.0.1', port: 81, priority: 10 },
      { address: '10.0.0.2', port: 82, priority: 20 },
    ],
    dcfg('dns: _a._tcp.x.test, type: SRV'),
  );
  assert.deepEqual(
    srv.map((s) => `${s.name}:${s.tier}`),
    ['10.0.0.1-81:1', '10.0.0.2-82:2'],
  );
});

test('reconcile: adds the new, retires the vanished, takes back a retiring one, and changes nothing on an empty answer', () => {
  const d = dcfg('dns: x.test, port: 80');
  const want = (...a: string[]) =>
    wantedServers(
      a.map((address) => ({ address, port: 80, priority: 0 })),
      d,
    );
  const plan = reconcile(want('10.0.0.2', '10.0.0.3'), [
    { name: '10.0.0.1-80', retiring: false },
    { name: '10.0.0.2-80', retiring: false },
    { name: '10.0.0.3-80', retiring: true },
  ]);
  assert.deepEqual({ add: plan.add.map((s) => s.name), retire: plan.retire }, { add: ['10.0.0.3-80'], retire: ['10.0.0.1-80'] });
  assert.deepEqual(reconcile([], [{ name: '10.0.0.1-80', retiring: false }]), { add: [], retire: [] });
});

test('lookup: TTLs, an empty answer is no error, a resolver failure is; SRV targets fall back to AAAA; nextDelay stays within bounds', async () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  const client: DnsClient = {
    resolve4: async (name) => {
      if (name === 'a.test')
        return [
          { address: '10.0.0.1', ttl: 7 },
          { address: '10.0.0.2', ttl: 3 },
        ];
      if (name === 'down.test') throw err('ESERVFAIL');
      throw err(name === 'v6.test' ? 'ENODATA' : 'ENOTFOUND');
    },
    resolve6: async () => [{ address: 'fd00::1', ttl: 60 }],
    resolveSrv: async () => [{ name: 'v6.test', port: 8080, priority: 0, weight: 1 }],
  };
  assert.deepEqual(await lookup(client, { dns: 'a.test', type: 'A', port: 80 }), {
    targets: [
      { address: '10.0.0.1', port: 80, priority: 0 },
      { address: '10.0.0.2', port: 80, priority: 0 },
    ],
    ttlMs: 3000,
  });
  assert.deepEqual(await lookup(client, { dns: 'none.test', type: 'A', port: 80 }), { targets: [], ttlMs: undefined });
  await assert.rejects(lookup(client, { dns: 'down.test', type: 'A', port: 80 }), /ESERVFAIL/);
  assert.deepEqual((await lookup(client, { dns: '_a._tcp.x.test', type: 'SRV', port: undefined })).targets, [{ address: 'fd00::1', port: 8080, priority: 0 }]);
  const bounds = { interval: 30_000, min_interval: 1_000 };
  assert.equal(nextDelay(bounds, { targets: [], ttlMs: 0 }, 0), 1_000, 'a TTL of 0 waits min_interval');
  assert.equal(nextDelay(bounds, { targets: [], ttlMs: 5_000 }, 0), 5_000);
  assert.equal(nextDelay(bounds, { targets: [], ttlMs: 3_600_000 }, 0), 30_000, 'a long TTL waits at most interval');
  assert.equal(nextDelay(bounds, { targets: [], ttlMs: undefined }, 0), 30_000);
  assert.deepEqual(
    [1, 2, 3, 10].map((n) => nextDelay(bounds, undefined, n)),
    [1_000, 2_000, 4_000, 30_000],
    'failures back off',
  );
});

test('DnsDiscovery: a failure keeps the known servers and is counted; the next lookup is scheduled at the TTL', async () => {
  let answer: () => Promise<{ address: string; ttl: number }[]> = async () => [{ address: '10.0.0.1', ttl: 5 }];
  const client = { resolve4: () => answer(), resolve6: async () => [], resolveSrv: async () => [] } as DnsClient;
  const scheduled: { fn: () => void; ms: number }[] = [];
  const timers: Timers = { set: (fn, ms) => scheduled.push({ fn, ms }), clear: () => undefined };
  const seen: string[][] = [];
  const d = new DnsDiscovery('airflow', dcfg('dns: x.test, port: 80'), (s) => seen.push(s.map((x) => x.name)), silent, { client, timers });
  assert.equal(await d.refresh(), 5_000);
  answer = async () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' }));
  assert.equal(await d.refresh(), 1_000);
  answer = async () => [];
  await d.refresh();
  assert.deepEqual(seen, [['10.0.0.1-80']], 'only the first answer changed anything');
  assert.deepEqual(
    d.known.map((s) => s.name),
    ['10.0.0.1-80'],
  );
  assert.deepEqual({ lookups: d.stats.lookups, failures: d.stats.failures, empty: d.stats.empty }, { lookups: 3, failures: 1, empty: 1 });
  answer = async () => [{ address: '10.0.0.2', ttl: 2 }];
  d.start(0);
  scheduled.shift()!.fn();
  await new Promise<void>((resolve) => (timers.set = (fn, ms) => (scheduled.push({ fn, ms }), resolve())));
  assert.equal(scheduled.at(-1)!.ms, 2_000, 'the loop asks again after the TTL');
  assert.deepEqual(seen.at(-1), ['10.0.0.2-80']);
  d.stop();
});

test('Backend: a joining server stays out until up; a retiring one finishes in flight, keeps serving while it is the only one, then leaves', () => {
  const clock = new ManualClock(1_000);
  const cfg = load('dns: x.test, port: 80');
  const b = new Backend('airflow', cfg.backends.airflow!, { clock });
  const want = (...a: string[]) =>
    wantedServers(
      a.map((address) => ({ address, port: 80, priority: 0 })),
      cfg.backends.airflow!.discovery!,
    );
  applyDiscovered(b, want('10.0.0.1'), () => 'up');
  const one = b.server('10.0.0.1-80')!;
  assert.equal(b.select(undefined, undefined, undefined), one);
  applyDiscovered(b, want('10.0.0.2'), () => 'down');
  const two = b.server('10.0.0.2-80')!;
  assert.equal(one.retiring, true);
  assert.equal(b.select(undefined, undefined, undefined), one, 'the retiring server serves while its successor is not yet up');
  const lease = b.acquire(one);
  two.setHealth('up', clock.now());
  b.settle();
  assert.equal(b.server('10.0.0.1-80'), one, 'in flight: it stays');
  assert.equal(b.select('10.0.0.1-80', undefined, undefined), two, 'no new request, sticky or not');
  assert.ok(two.effectiveWeight(clock.now(), 10_000) < 0.1, 'slow start ramps from when it came up');
  lease.release();
  assert.equal(b.server('10.0.0.1-80'), undefined, 'idle: it left');
  assert.deepEqual(
    b.servers.map((s) => `${s.name}@${s.index}`),
    ['10.0.0.2-80@0'],
  );
  assert.equal(one.index, -1);
  const capped = new Backend('airflow', { ...cfg.backends.airflow!, discovery: { ...cfg.backends.airflow!.discovery!, max_connections: 1 } }, { clock });
  applyDiscovered(capped, wantedServers([{ address: '10.0.0.3', port: 80, priority: 0 }], capped.config.discovery!), () => 'up');
  capped.servers[0]!.lease();
  assert.equal(capped.select(undefined, undefined, undefined), FULL, 'discovered servers take max_connections from discovery');
});

test('Backend: a reload carries discovered servers over with their state; retiring ones stay with the old snapshot', () => {
  const clock = new ManualClock(0);
  const cfg = load('dns: x.test, port: 80');
  const old = new Backend('airflow', cfg.backends.airflow!, { clock });
  const want = (...a: string[]) =>
    wantedServers(
      a.map((address) => ({ address, port: 80, priority: 0 })),
      cfg.backends.airflow!.discovery!,
    );
  applyDiscovered(old, want('10.0.0.1', '10.0.0.2'), () => 'up');
  old.server('10.0.0.2-80')!.lease();
  for (let i = 0; i < 42; i++) old.server('10.0.0.1-80')!.observe(1, 200);
  applyDiscovered(old, want('10.0.0.1'), () => 'up');
  const next = new Backend('airflow', cfg.backends.airflow!, { clock }, old);
  assert.deepEqual(
    next.servers.map((s) => `${s.name} served ${s.served}`),
    ['10.0.0.1-80 served 42'],
  );
  assert.equal(next.server('10.0.0.1-80')!.pool, old.server('10.0.0.1-80')!.pool, 'the pool is handed over');
  void old.destroy();
  void next.destroy();
});
