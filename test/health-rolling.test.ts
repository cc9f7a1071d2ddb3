import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { waitFor } from './helpers/wait.js';
import { CookieJar } from './helpers/cookie-jar.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { AirflowState } from '../src/sim/state.js';
import type { Gateway } from '../src/server/gateway.js';

const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const TOKEN = 'rolling-upgrade-admin-token';

function yaml(sims: SimulatedAirflow[], health: string, extra = ''): string {
  return `listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: ${TOKEN} }
backends:
  airflow:
    health: ${health}
${extra}
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow, timeouts: { response_headers: 3s } }
`;
}

const serverOf = (gw: Gateway, name: string) => gw.runtime.backends.get('airflow')!.server(name)!;

test('a hung node is out of rotation within fall × interval + timeout; in-flight requests on it are retried elsewhere', async () => {
  const state = new AirflowState();
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name, state }).start()));
  const gw = await startGateway(yaml(sims, '{ interval: 200ms, timeout: 150ms, rise: 2, fall: 3, jitter: 0% }', '    retries: { attempts: 2, on: [connect-failure, reset-before-response, timeout] }'));
  const agent = new Agent();
  try {
    await waitFor(() => sims.every((s) => s.healthRequests > 0), 'a first round of health checks');
    const t0 = Date.now();
    sims[1]!.setFaults({ hang: true });
    await waitFor(() => serverOf(gw.gateway, 'web-2').health === 'down', 'web-2 to be marked down', 5000);
    const elapsed = Date.now() - t0;
    const bound = 3 * 200 + 150;
    assert.ok(elapsed <= bound + 250, `down after ${elapsed} ms; config allows fall × interval + timeout = ${bound} ms (+250 ms for scheduling)`);
    const line = gw.logs.lines.find((l) => l.msg === 'server airflow/web-2 is down');
    assert.ok(line, 'the transition is logged');
    assert.match(String(line.reason), /^timeout after 150ms$/);
    assert.equal(typeof line.tookMs, 'number');
    // Out of rotation: nothing new goes to web-2 and every request succeeds.
    for (let i = 0; i < 30; i++) {
      const res = await request(`${gw.url}/api/v1/dags`, { dispatcher: agent, headers: { authorization: BASIC } });
      assert.equal(res.statusCode, 200);
      assert.notEqual(res.headers['x-sim-node'], 'web-2');
      await res.body.dump();
    }
    assert.equal(sims[1]!.hungRequests, 0);
    // Recovery: rise passing checks bring it back.
    sims[1]!.setFaults({ hang: false });
    await waitFor(() => serverOf(gw.gateway, 'web-2').health === 'up', 'web-2 to come back', 5000);
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a request in flight on a node that hangs is answered by another node after the route timeout (idempotent retry)', async () => {
  const sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await startGateway(yaml(sims, '{ enabled: false }', '    balance: round-robin\n    retries: { attempts: 1, on: [timeout] }').replace('response_headers: 3s', 'response_headers: 300ms'));
  const agent = new Agent();
  try {
    sims[0]!.setFaults({ hang: true });
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/health`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-sim-node'], 'web-2');
      await res.body.dump();
    }
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('scheduler unhealthy on one node takes it out; on every node all stay in and the cluster is reported degraded', async () => {
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await startGateway(yaml(sims, '{ interval: 100ms, timeout: 500ms, rise: 1, fall: 2, jitter: 0% }'));
  try {
    await waitFor(() => sims.every((s) => s.healthRequests > 0), 'a first round of health checks');
    sims[0]!.setFaults({ schedulerUnhealthy: true });
    await waitFor(() => serverOf(gw.gateway, 'web-1').health === 'down', 'web-1 to be taken out');
    const line = gw.logs.lines.find((l) => l.msg === 'server airflow/web-1 is down');
    assert.equal(line?.reason, 'scheduler unhealthy on this node only');
    assert.equal(gw.gateway.runtime.checker('airflow')!.clusterDegraded, undefined);

    for (const s of sims) s.setFaults({ schedulerUnhealthy: true });
    await waitFor(() => gw.gateway.runtime.checker('airflow')!.clusterDegraded !== undefined, 'the cluster to be reported degraded');
    await waitFor(() => ['web-1', 'web-2', 'web-3'].every((n) => serverOf(gw.gateway, n).health === 'up'), 'every node to be in rotation');
    const status = await request(`http://127.0.0.1:${gw.gateway.admin!.port}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await status.body.json()) as { backends: { clusterDegraded: string | null; servers: { status: string }[] }[] };
    assert.equal(body.backends[0]!.clusterDegraded, 'scheduler unhealthy on every server');
    assert.deepEqual(
      body.backends[0]!.servers.map((s) => s.status),
      ['up', 'up', 'up'],
    );
    assert.ok(
      gw.logs.lines.some((l) => l.level === 50 && String(l.msg).startsWith('cluster degraded')),
      'logged as an error',
    );
    const res = await request(`${gw.url}/health`);
    assert.equal(res.statusCode, 200, 'still served');
    await res.body.dump();

    for (const s of sims) s.setFaults({ schedulerUnhealthy: false });
    await waitFor(() => gw.gateway.runtime.checker('airflow')!.clusterDegraded === undefined, 'the cluster to recover');
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('every server down: a clear 503 (HTML for browsers, JSON for APIs) with Retry-After; the gateway’s own health stays up', async () => {
  const sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await startGateway(yaml(sims, '{ interval: 100ms, timeout: 100ms, rise: 1, fall: 1, jitter: 0% }'));
  try {
    for (const s of sims) s.setFaults({ hang: true });
    await waitFor(() => ['web-1', 'web-2'].every((n) => serverOf(gw.gateway, n).health === 'down'), 'both servers down');
    const html = await request(`${gw.url}/home`, { headers: { accept: 'text/html' } });
    assert.equal(html.statusCode, 503);
    assert.equal(html.headers['retry-after'], '5');
    assert.match(await html.body.text(), /<h1>503 Service Unavailable<\/h1>/);
    const api = await request(`${gw.url}/api/v1/dags`, { headers: { accept: 'application/json' } });
    assert.equal(api.statusCode, 503);
    assert.equal(((await api.body.json()) as { code: string }).code, 'AIRGATE_ERR_NO_SERVER');
    const own = await request(`${gw.url}/_airgate/health`);
    assert.equal(own.statusCode, 200);
    assert.deepEqual(await own.body.json(), { status: 'ok' });
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('rolling upgrade under mixed load: drain → stop → restart → ready on each of three nodes, zero failed requests', async () => {
  const state = new AirflowState(Array.from({ length: 50 }, (_, i) => `dag_${i}`));
  const names = ['web-1', 'web-2', 'web-3'];
  const sims = await Promise.all(names.map((name) => new SimulatedAirflow({ name, state, secretKey: 'shared' }).start()));
  const ports = sims.map((s) => s.port);
  const gw = await startGateway(
    yaml(sims, '{ interval: 100ms, timeout: 300ms, rise: 2, fall: 2, jitter: 10% }', '    drain_grace: 1s\n    sticky: { keys: ["rolling-upgrade-sticky-key"] }\n    retries: { attempts: 2, on: [connect-failure, reset-before-response] }'),
  );
  const admin = `http://127.0.0.1:${gw.gateway.admin!.port}`;
  const setState = async (name: string, st: string) => {
    const res = await request(`${admin}/backends/airflow/servers/${name}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ state: st }) });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  };
  const agent = new Agent({ connections: 32 });
  const failures: string[] = [];
  const served: Record<string, number>[] = [];
  let phase: Record<string, number> = {};
  let stop = false;
  let trigger = 0;
  // A request counts in the phase in which it was sent: one sent during the drain grace may answer
  // after the grace ended, and still belongs to the grace.
  const count = (sentIn: Record<string, number>, node: unknown) => {
    if (typeof node === 'string') sentIn[node] = (sentIn[node] ?? 0) + 1;
  };
  // Three kinds of clients: anonymous GETs, a browser session with cookies, API calls with basic auth.
  const anonymous = async () => {
    while (!stop) {
      try {
        const sentR = phase;
        const r = await request(`${gw.url}/health`, { dispatcher: agent });
        count(sentR, r.headers['x-sim-node']);
        if (r.statusCode !== 200) failures.push(`GET /health ${r.statusCode}`);
        await r.body.dump();
      } catch (err) {
        failures.push(`GET /health ${(err as Error).message}`);
      }
    }
  };
  const api = async () => {
    while (!stop) {
      try {
        const sentR = phase;
        const r = await request(`${gw.url}/api/v1/dags/dag_${trigger % 50}/dagRuns`, {
          dispatcher: agent,
          method: 'POST',
          headers: { authorization: BASIC, 'content-type': 'application/json' },
          body: JSON.stringify({ dag_run_id: `run-${trigger++}` }),
        });
        count(sentR, r.headers['x-sim-node']);
        if (r.statusCode !== 200) failures.push(`POST dagRuns ${r.statusCode}`);
        await r.body.dump();
        const sentL = phase;
        const l = await request(`${gw.url}/api/v1/dags`, { dispatcher: agent, headers: { authorization: BASIC } });
        count(sentL, l.headers['x-sim-node']);
        if (l.statusCode !== 200) failures.push(`GET /api/v1/dags ${l.statusCode}`);
        await l.body.dump();
      } catch (err) {
        failures.push(`api ${(err as Error).message}`);
      }
    }
  };
  const browser = async () => {
    const jar = new CookieJar();
    const cookie = () => jar.header();
    const keep = (sc: string | string[] | undefined) => jar.keep(sc);
    const form = await request(`${gw.url}/login/`, { dispatcher: agent });
    keep(form.headers['set-cookie']);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const login = await request(`${gw.url}/login/?next=/home`, { dispatcher: agent, method: 'POST', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrf}&username=admin&password=admin` });
    keep(login.headers['set-cookie']);
    await login.body.dump();
    while (!stop) {
      try {
        const sentR = phase;
        const r = await request(`${gw.url}/home`, { dispatcher: agent, headers: { cookie: cookie() } });
        keep(r.headers['set-cookie']);
        count(sentR, r.headers['x-sim-node']);
        const text = await r.body.text();
        if (r.statusCode !== 200 || !text.includes('Logged in as admin')) failures.push(`GET /home ${r.statusCode}`);
      } catch (err) {
        failures.push(`GET /home ${(err as Error).message}`);
      }
    }
  };
  const until = async (n: number) => {
    const target = Object.values(phase).reduce((a, b) => a + b, 0) + n;
    await waitFor(() => Object.values(phase).reduce((a, b) => a + b, 0) >= target, `${n} more requests`, 20_000);
  };
  const nextPhase = () => {
    served.push(phase);
    phase = {};
  };
  const clients = [anonymous(), anonymous(), api(), browser(), browser()];
  try {
    await until(300);
    nextPhase();
    for (let i = 0; i < 3; i++) {
      const name = names[i]!;
      await setState(name, 'drain');
      const graceEnds = Date.now() + 1000;
      await waitFor(() => Date.now() > graceEnds, 'the drain grace (1 s) in which sticky sessions may still use the node', 5000);
      await waitFor(() => serverOf(gw.gateway, name).inflight === 0, `${name} to have no request in flight`);
      nextPhase(); // from here until ready, nothing may land on the node
      await sims[i]!.stop();
      await until(200);
      sims[i] = await new SimulatedAirflow({ name, state, secretKey: 'shared', port: ports[i] }).start();
      await waitFor(() => serverOf(gw.gateway, name).health === 'up', `${name} to pass its health checks again`);
      await until(100);
      nextPhase();
      await setState(name, 'ready');
      await until(300);
      nextPhase();
    }
  } finally {
    stop = true;
    await Promise.allSettled(clients);
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
  assert.deepEqual(failures, [], 'zero failed client requests');
  const total = served.flatMap((p) => Object.values(p)).reduce((a, b) => a + b, 0);
  assert.ok(total >= 2000, `${total} requests during the upgrade`);
  // served[0]: before; then per node i: [1 + 3i] drain grace, [2 + 3i] out (stopped, restarted,
  // healthy but still drained), [3 + 3i] after ready
  for (let i = 0; i < 3; i++) {
    const out = served[2 + 3 * i]!;
    const back = served[3 + 3 * i]!;
    assert.equal(out[names[i]!] ?? 0, 0, `${names[i]} took no request after its drain grace while it was out: ${JSON.stringify(out)}`);
    assert.ok((back[names[i]!] ?? 0) > 0, `${names[i]} served again after ready: ${JSON.stringify(back)}`);
  }
  process.stdout.write(`# rolling upgrade: ${total} requests, 0 failed; per phase ${JSON.stringify(served)}\n`);
});
