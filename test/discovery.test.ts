import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { chromium } from 'playwright-core';
import { startGateway } from './helpers/gateway.js';
import { startDnsmasq, type Dnsmasq } from './helpers/dnsmasq.js';
import { mixedLoad, type LoadKind } from './helpers/mixed-load.js';
import { runLoad } from './helpers/load.js';
import { waitFor } from './helpers/wait.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import type { Gateway } from '../src/server/gateway.js';
import { loadConfigText } from '../src/config/load.js';

const TOKEN = 'an-admin-token-0123456789';
const BASIC = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };

/** Simulated Airflow nodes on 127.0.0.2, .3 … sharing one port, as pods of one Service would. */
class Pods {
  readonly state = new AirflowState();
  readonly nodes = new Map<string, SimulatedAirflow>();
  port = 0;
  async start(last: number): Promise<SimulatedAirflow> {
    const sim = await new SimulatedAirflow({ name: `web-${last}`, state: this.state, host: `127.0.0.${last}`, port: this.port }).start();
    this.port = sim.port;
    this.nodes.set(`127.0.0.${last}`, sim);
    return sim;
  }
  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((s) => s.stop()));
  }
}

function yaml(dns: Dnsmasq, discovery: string, extra = ''): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  airflow:
    discovery: { ${discovery}, resolvers: ["${dns.address}"], min_interval: 100ms, interval: 1s, timeout: 500ms, tries: 1 }
    health: { interval: 100ms, rise: 2, fall: 2 }
${extra}
routes:
  - path: /
    backend: airflow
admin: { address: 127.0.0.1:0, token: "${TOKEN}" }
access_log: { enabled: false }
`;
}

const names = (gw: Gateway) =>
  gw.runtime.backends
    .get('airflow')!
    .servers.map((s) => s.name)
    .sort();
const server = (gw: Gateway, name: string) => gw.runtime.backends.get('airflow')!.server(name);
const available = (gw: Gateway, name: string) => {
  const b = gw.runtime.backends.get('airflow')!;
  return b.server(name)?.available(b.clock.now()) ?? false;
};

test('discovery: servers appear and disappear under continuous load with 0 failed requests; a new one enters after its health checks, through slow start', async () => {
  const pods = new Pods();
  const web2 = await pods.start(2);
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2'] } });
  const { gateway, url } = await startGateway(yaml(dns, `dns: web.test, port: ${pods.port}`, '    slow_start: 2s'));
  const P = pods.port;
  try {
    assert.deepEqual(names(gateway), [`127.0.0.2-${P}`], 'the first answer fills the backend before the gateway listens');
    const joined: { name: string; health: string; requests: number }[] = [];
    gateway.runtime.backends.get('airflow')!.onMembership({ added: (s) => joined.push({ name: s.name, health: s.health, requests: pods.nodes.get(s.url.hostname)?.requests ?? -1 }), removed: () => undefined });
    const load = mixedLoad(url, [{ path: '/api/v1/dags', headers: BASIC }, { path: '/_sim/echo' }], 6);
    await waitFor(() => load.done > 50, 'load to run');

    const web3 = await pods.start(3);
    await dns.publish({ 'web.test': ['127.0.0.2', '127.0.0.3'] });
    await waitFor(() => available(gateway, `127.0.0.3-${P}`), 'the new address to pass its health checks');
    const s3 = server(gateway, `127.0.0.3-${P}`)!;
    assert.ok(s3.effectiveWeight(gateway.runtime.backends.get('airflow')!.clock.now(), 2000) < 1, 'it starts with a reduced share (slow start)');
    assert.deepEqual(joined, [{ name: `127.0.0.3-${P}`, health: 'down', requests: 0 }], 'it joined down, with no traffic before its checks passed');
    assert.ok(web3.healthRequests >= 2, 'rise: 2 checks passed first');
    await waitFor(() => web3.requests > 30, 'the new server to take traffic');

    await dns.publish({ 'web.test': ['127.0.0.3'] });
    await waitFor(() => !names(gateway).includes(`127.0.0.2-${P}`), 'the withdrawn address to be drained and removed');
    const web2Count = web2.requests;
    const after = load.done;
    await waitFor(() => load.done > after + 100, 'more traffic');
    assert.equal(web2.requests, web2Count, 'a removed server gets no new request');

    const web4 = await pods.start(4);
    await dns.publish({ 'web.test': ['127.0.0.3', '127.0.0.4'] });
    await waitFor(() => web4.requests > 30, 'the third address to take traffic');
    const result = await load.stop();
    assert.deepEqual(result.failed, [], 'no request failed');
    assert.ok(result.ok > 300, `requests answered: ${result.ok}`);
    assert.deepEqual(names(gateway), [`127.0.0.3-${P}`, `127.0.0.4-${P}`]);
  } finally {
    await gateway.stop(0);
    await dns.cleanup();
    await pods.stopAll();
  }
});

test('discovery: a withdrawn server finishes its in-flight long request before it is removed; sticky users move on', async () => {
  const pods = new Pods();
  const web2 = await pods.start(2);
  await pods.start(3);
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2'] } });
  const { gateway, url } = await startGateway(yaml(dns, `dns: web.test, port: ${pods.port}`, '    sticky: { keys: ["a-sticky-key-0123456789"] }'));
  const P = pods.port;
  try {
    const long = await request(`${url}/_sim/stream?gate&lines=2`);
    assert.equal(long.headers['x-sim-node'], 'web-2');
    const sticky = ([] as string[])
      .concat(long.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('airgate_node='))!
      .split(';')[0]!;
    const chunks: string[] = [];
    const body = (async () => {
      for await (const c of long.body) chunks.push((c as Buffer).toString());
    })();
    await waitFor(() => chunks.join('') === 'line 1\n', 'the first line');

    await dns.publish({ 'web.test': ['127.0.0.3'] });
    await waitFor(() => available(gateway, `127.0.0.3-${P}`) && server(gateway, `127.0.0.2-${P}`)?.retiring === true, 'the successor up and the old server retiring');
    const old = server(gateway, `127.0.0.2-${P}`)!;
    assert.equal(old.inflight, 1, 'the old server stays while its request runs');
    assert.equal(old.status(0), 'retiring');
    const moved = await request(`${url}/_sim/echo`, { headers: { cookie: sticky } });
    await moved.body.dump();
    assert.equal(moved.headers['x-sim-node'], 'web-3', 'the sticky user is sent to a server in rotation');
    assert.match(String(moved.headers['set-cookie']), /^airgate_node=127\.0\.0\.3-/, 'and gets a cookie for it');

    web2.streamer.next();
    await body;
    assert.equal(chunks.join(''), 'line 1\nline 2\n', 'the long request completed');
    await waitFor(() => server(gateway, `127.0.0.2-${P}`) === undefined, 'the old server to leave once idle');
  } finally {
    await gateway.stop(0);
    await dns.cleanup();
    await pods.stopAll();
  }
});

test('discovery: an empty answer and a stopped DNS server keep the last known servers; /status, /metrics and the dashboard show it', async () => {
  const pods = new Pods();
  await pods.start(2);
  await pods.start(3);
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2', '127.0.0.3'] } });
  const { gateway, url } = await startGateway(yaml(dns, `dns: web.test, port: ${pods.port}`));
  const admin = `http://127.0.0.1:${gateway.admin!.port}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const stats = () => gateway.runtime.backends.get('airflow')!.discovery!;
  try {
    await dns.publish({ 'other.test': ['127.0.0.9'] });
    await waitFor(() => stats().empty >= 1, 'an empty answer');
    assert.equal(names(gateway).length, 2, 'an empty answer removes nothing');

    await dns.stop();
    await waitFor(() => stats().failures >= 2, 'failed lookups');
    const load = await runLoad(`${url}/api/v1/dags`, { total: 300, concurrency: 6, headers: BASIC });
    assert.deepEqual(load.failed, []);
    assert.deepEqual(Object.keys(load.byNode).sort(), ['web-2', 'web-3'], 'traffic continues on the last known servers');

    const status = (await (await request(`${admin}/status`, { headers: auth })).body.json()) as { backends: { discovery: { lastError: string; failures: number; lookups: number }; servers: { name: string; source: string; status: string }[] }[] };
    const b = status.backends[0]!;
    assert.match(b.discovery.lastError, /ECONNREFUSED|ETIMEOUT|EREFUSED/);
    assert.ok(b.discovery.failures >= 2 && b.discovery.lookups > b.discovery.failures);
    assert.deepEqual(
      b.servers.map((s) => `${s.source}:${s.status}`),
      ['dns:up', 'dns:up'],
    );
    const metrics = await (await request(`${admin}/metrics`, { headers: auth })).body.text();
    const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    assert.ok(value(/^airgate_discovery_failures_total\{backend="airflow",reason="error"\} (\d+)$/m) >= 2, metrics);
    assert.ok(value(/^airgate_discovery_failures_total\{backend="airflow",reason="empty"\} (\d+)$/m) >= 1);
    assert.ok(value(/^airgate_discovery_lookups_total\{backend="airflow"\} (\d+)$/m) >= 3);
    assert.equal(value(/^airgate_discovery_servers\{backend="airflow",state="active"\} (\d+)$/m), 2);

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      // The dashboard's sign-in form (the token never goes in the URL).
      await page.goto(`${admin}/dashboard`);
      await page.fill('input[name=token]', TOKEN);
      await page.fill('input[name=user]', 'dns-test');
      await Promise.all([page.waitForURL((u) => u.pathname === '/dashboard'), page.click('button[type=submit]')]);
      const line = page.locator('.card[data-backend="airflow"] [data-role=discovery]');
      await line.waitFor({ timeout: 5000 });
      assert.match((await line.textContent()) ?? '', /^DNS A web\.test · 2 found · \d+ lookups, \d+ failed · keeping last known servers: (ECONNREFUSED|ETIMEOUT|EREFUSED)/);
      assert.equal(await page.locator('.card[data-backend="airflow"] tr[data-server] small', { hasText: /· dns$/ }).count(), 2);
    } finally {
      await browser.close();
    }
  } finally {
    await gateway.stop(0);
    await dns.cleanup();
    await pods.stopAll();
  }
});

test('discovery: SRV answers give each server its port; a lower SRV priority is a backup tier', async () => {
  const state = new AirflowState();
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name, state }).start()));
  const [a, b, c] = sims.map((s) => s.port) as [number, number, number];
  const dns = await startDnsmasq({
    hosts: { 'n1.test': ['127.0.0.1'], 'n2.test': ['127.0.0.1'], 'n3.test': ['127.0.0.1'] },
    srv: [`_airflow._tcp.web.test,n1.test,${a},0,10`, `_airflow._tcp.web.test,n2.test,${b},0,10`, `_airflow._tcp.web.test,n3.test,${c},1,10`],
  });
  const { gateway, url } = await startGateway(yaml(dns, 'dns: _airflow._tcp.web.test, type: SRV'));
  try {
    const servers = gateway.runtime.backends
      .get('airflow')!
      .servers.map((s) => `${s.name} ${s.url.origin} tier ${s.tier}`)
      .sort();
    assert.deepEqual(servers, [`127.0.0.1-${a} http://127.0.0.1:${a} tier 1`, `127.0.0.1-${b} http://127.0.0.1:${b} tier 1`, `127.0.0.1-${c} http://127.0.0.1:${c} tier 2`].sort());
    const load = await runLoad(`${url}/_sim/echo`, { total: 200, concurrency: 4 });
    assert.deepEqual(load.failed, []);
    assert.deepEqual(Object.keys(load.byNode).sort(), ['web-1', 'web-2'], 'the priority-1 target is a backup');
  } finally {
    await gateway.stop(0);
    await dns.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('discovery: a rolling pod replacement under mixed load (API, sticky UI, streams, POSTs) fails no request', async () => {
  const pods = new Pods();
  await pods.start(2);
  await pods.start(3);
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2', '127.0.0.3'] } });
  const { gateway, url } = await startGateway(yaml(dns, `dns: web.test, port: ${pods.port}`, '    sticky: { keys: ["a-sticky-key-0123456789"] }\n    slow_start: 500ms'));
  const kinds: LoadKind[] = [
    { path: '/api/v1/dags', headers: BASIC },
    { path: '/health', sticky: 'airgate_node' },
    { path: '/_sim/stream?lines=3&interval=20' },
    { path: '/_sim/echo', method: 'POST', body: 'x'.repeat(2000), headers: { 'content-type': 'text/plain' } },
    { path: '/_sim/echo', sticky: 'airgate_node' },
  ];
  const load = mixedLoad(url, kinds, 10);
  try {
    await waitFor(() => load.done > 50, 'load to run');
    let live = ['127.0.0.2', '127.0.0.3'];
    const took: string[] = [];
    for (const [old, next] of [
      ['127.0.0.2', 4],
      ['127.0.0.3', 5],
    ] as const) {
      const sim = await pods.start(next);
      const fresh = `127.0.0.${next}`;
      let t = Date.now();
      await dns.publish({ 'web.test': [...live, fresh] });
      await waitFor(() => available(gateway, `${fresh}-${pods.port}`), `${fresh} to pass its checks`);
      took.push(`${fresh} in rotation ${Date.now() - t} ms after publication`);
      const mark = load.done;
      await waitFor(() => load.done > mark + 150, 'traffic on old and new nodes together');
      live = [...live.filter((a) => a !== old), fresh];
      t = Date.now();
      await dns.publish({ 'web.test': live });
      await waitFor(() => server(gateway, `${old}-${pods.port}`) === undefined, `${old} to drain and leave`);
      took.push(`${old} gone ${Date.now() - t} ms after withdrawal`);
      await pods.nodes.get(old)!.stop(); // the pod terminates after it left the endpoints
      await waitFor(() => sim.requests > 20, `${fresh} to take traffic`);
      const mark2 = load.done;
      await waitFor(() => load.done > mark2 + 150, 'traffic after the old node stopped');
    }
    const result = await load.stop();
    assert.deepEqual(result.failed, [], 'no request failed');
    assert.ok(result.ok > 200, `requests answered: ${result.ok}`);
    assert.deepEqual(names(gateway), [`127.0.0.4-${pods.port}`, `127.0.0.5-${pods.port}`]);
    process.stdout.write(`# pod replacement: ${result.ok} requests, 0 failed; ${took.join('; ')}\n`);
  } finally {
    await load.stop();
    await gateway.stop(0);
    await dns.cleanup();
    await pods.stopAll();
  }
});

test('discovery: reloads under load keep the discovered servers (state and pools); a changed discovery section takes over at once', async () => {
  const pods = new Pods();
  await pods.start(2);
  await pods.start(3);
  const dns = await startDnsmasq({ hosts: { 'web.test': ['127.0.0.2', '127.0.0.3'] } });
  const text = (interval: string) => yaml(dns, `dns: web.test, port: ${pods.port}`).replace('interval: 1s', `interval: ${interval}`);
  const { gateway, url } = await startGateway(text('1s'));
  const P = pods.port;
  try {
    const load = mixedLoad(url, [{ path: '/api/v1/dags', headers: BASIC }, { path: '/_sim/echo' }], 6);
    await waitFor(() => load.done > 50, 'load to run');
    const before = server(gateway, `127.0.0.2-${P}`)!;
    for (const interval of ['2s', '3s']) {
      const r = await gateway.reload(loadConfigText(text(interval), 'test.yaml'));
      assert.equal(r.ok, true);
      const after = load.done;
      await waitFor(() => load.done > after + 50, 'traffic on the new configuration');
    }
    const now = server(gateway, `127.0.0.2-${P}`)!;
    assert.notEqual(now, before, 'a new runtime');
    assert.equal(now.pool, before.pool, 'the connection pool was handed over');
    assert.ok(now.served >= before.served && now.checks.pass > 0, 'counters and health carried over');
    await dns.publish({ 'web.test': ['127.0.0.3'] });
    await waitFor(() => server(gateway, `127.0.0.2-${P}`) === undefined, 'the restarted lookup loop to apply a withdrawal to the current runtime');
    const result = await load.stop();
    assert.deepEqual(result.failed, []);
  } finally {
    await gateway.stop(0);
    await dns.cleanup();
    await pods.stopAll();
  }
});
