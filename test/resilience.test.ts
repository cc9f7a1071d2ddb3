import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startGateway, startSims } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { spawnSim } from './helpers/spawn.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { waitFor } from './helpers/wait.js';
import { CookieJar } from './helpers/cookie-jar.js';

function yamlFor(servers: { name: string; url: string; extra?: string }[], backend = '', route = ''): string {
  return `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  airflow:
${backend}
    servers:
${servers.map((s) => `      - { name: ${s.name}, url: ${s.url}${s.extra ? `, ${s.extra}` : ''} }`).join('\n')}
routes:
  - path: /
    backend: airflow
${route}
`;
}

test('kill -9 of one of three nodes under continuous GET load: zero failed client requests', async () => {
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((n) => spawnSim(n)));
  const gw = await startGateway(yamlFor(sims.map((s, i) => ({ name: `web-${i + 1}`, url: s.url }))));
  let killedAt = -1;
  try {
    const load = await runLoad(`${gw.url}/api/v1/dags`, {
      total: 3000,
      concurrency: 16,
      headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      onProgress: async (done) => {
        if (done === 600) {
          killedAt = done;
          sims[1]!.child.kill('SIGKILL');
          await sims[1]!.exited;
        }
      },
    });
    assert.equal(killedAt, 600);
    assert.deepEqual(load.failed, [], 'no client saw an error');
    assert.equal(load.ok, 3000);
    assert.ok((load.byNode['web-2'] ?? 0) > 0, 'web-2 served before it died');
    assert.ok((load.byNode['web-2'] ?? 0) < 700, `web-2 stopped serving after the kill (served ${load.byNode['web-2']})`);
    assert.ok(
      gw.logs.lines.some((l) => l.msg === 'retrying on another server'),
      'requests were retried',
    );
  } finally {
    await gw.gateway.stop(0);
    for (const s of sims) s.child.kill('SIGKILL');
  }
});

test('peak-ewma moves traffic away from a node that turns slow, and back when it recovers', async () => {
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name }).start()));
  const gw = await startGateway(
    yamlFor(
      sims.map((s) => ({ name: s.name, url: s.url })),
      '    peak_ewma: { decay: 1s }',
    ),
  );
  try {
    const warm = await runLoad(`${gw.url}/health`, { total: 300, concurrency: 6 });
    assert.deepEqual(warm.failed, []);
    sims[0]!.setFaults({ slowMs: 100 });
    const slow = await runLoad(`${gw.url}/health`, { total: 600, concurrency: 6 });
    assert.deepEqual(slow.failed, []);
    const fastShare = ((slow.byNode['web-2'] ?? 0) + (slow.byNode['web-3'] ?? 0)) / 600;
    assert.ok(fastShare >= 0.8, `fast servers got ${(fastShare * 100).toFixed(1)} % of requests while web-1 was slow`);
    sims[0]!.setFaults({ slowMs: 0 });
    // Keep traffic flowing until web-1 is probed again and wins back its share (at most 20 s).
    let share = 0;
    const deadline = Date.now() + 20_000;
    while (share < 0.2 && Date.now() < deadline) {
      const back = await runLoad(`${gw.url}/health`, { total: 300, concurrency: 6 });
      share = (back.byNode['web-1'] ?? 0) / 300;
    }
    assert.ok(share >= 0.2, `web-1 won back ${(share * 100).toFixed(1)} % after recovering`);
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('sticky: a login stays on one node; when that node goes down the next request lands elsewhere with a new cookie; a forged cookie is ignored', async () => {
  const sims = await Promise.all(['web-1', 'web-2', 'web-3'].map((name) => new SimulatedAirflow({ name, secretKey: 'shared-key' }).start()));
  const gw = await startGateway(
    yamlFor(
      sims.map((s) => ({ name: s.name, url: s.url })),
      '    sticky: { cookie: airgate_node, ttl: 12h, keys: ["a-very-secret-sticky-key"] }',
    ),
  );
  const http = client();
  try {
    const jar = new CookieJar();
    const cookieHeader = () => jar.header();
    const remember = (setCookie: string | string[] | undefined) => jar.keep(setCookie);
    const form = await http.req(`${gw.url}/login/`, { headers: { cookie: cookieHeader() } });
    remember(form.headers['set-cookie']);
    const html = await form.body.text();
    const node = form.headers['x-sim-node'] as string;
    assert.ok(jar.get('airgate_node')?.startsWith(`${node}~`), 'the sticky cookie names the node by its config name');
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)![1]!;
    const login = await http.req(`${gw.url}/login/?next=/home`, {
      method: 'POST',
      headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf_token=${csrf}&username=admin&password=admin`,
    });
    assert.equal(login.statusCode, 302);
    assert.equal(login.headers['x-sim-node'], node);
    remember(login.headers['set-cookie']);
    await login.body.dump();
    for (let i = 0; i < 10; i++) {
      const home = await http.req(`${gw.url}/home`, { headers: { cookie: cookieHeader() } });
      assert.equal(home.headers['x-sim-node'], node, 'the session stays on its node');
      assert.equal(home.headers['set-cookie'], undefined, 'a valid sticky cookie is not re-sent');
      assert.match(await home.body.text(), /Logged in as admin/);
    }
    await sims.find((s) => s.name === node)!.stop();
    const after = await http.req(`${gw.url}/home`, { headers: { cookie: cookieHeader() } });
    assert.equal(after.statusCode, 200, 'the next request succeeds elsewhere (shared secret_key keeps the login)');
    const newNode = after.headers['x-sim-node'] as string;
    assert.notEqual(newNode, node);
    remember(after.headers['set-cookie']);
    assert.ok(jar.get('airgate_node')?.startsWith(`${newNode}~`), 'the cookie was rewritten to the new node');
    await after.body.dump();
    const again = await http.req(`${gw.url}/home`, { headers: { cookie: cookieHeader() } });
    assert.equal(again.headers['x-sim-node'], newNode);
    await again.body.dump();

    const other = sims.find((s) => s.name !== node && s.name !== newNode)!.name;
    const forged = await http.req(`${gw.url}/health`, { headers: { cookie: `airgate_node=${other}~zzzzzz~AAAAAAAAAAAAAAAAAAAAAA` } });
    await forged.body.dump();
    const reissued = String(forged.headers['set-cookie'] ?? '');
    assert.match(reissued, /^airgate_node=/, 'a forged cookie is replaced by a valid one');
    assert.ok(reissued.startsWith(`airgate_node=${forged.headers['x-sim-node']}~`));
  } finally {
    await http.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('queue: with every server busy and hung, waiting clients get 503 after the queue timeout; the gateway keeps serving other backends', async () => {
  const sims = await Promise.all(['web-1', 'web-2'].map((name) => new SimulatedAirflow({ name }).start()));
  const [other] = await startSims(1, { name: 'other' });
  const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  airflow:
    queue: { size: 2, timeout: 300ms }
    health: { enabled: false }   # servers stay up while they hang: this test is about the queue only
    servers:
      - { name: web-1, url: ${sims[0]!.url}, max_connections: 1 }
      - { name: web-2, url: ${sims[1]!.url}, max_connections: 1 }
  other:
    servers:
      - { name: other, url: ${other!.url} }
routes:
  - { path: /, backend: airflow }
  - { path: /_sim, backend: other }
`;
  const gw = await startGateway(yaml);
  const http = client();
  try {
    for (const s of sims) s.setFaults({ hang: true });
    // One hung request per server fills both (max_connections: 1).
    const occupying = [http.req(`${gw.url}/health`).catch(() => undefined), http.req(`${gw.url}/health`).catch(() => undefined)];
    await waitFor(() => sims[0]!.hungRequests + sims[1]!.hungRequests === 2, 'both servers to be busy');
    const answer = async (path: string) => {
      const r = await http.req(`${gw.url}${path}`);
      return { status: r.statusCode, code: r.headers['x-airgate-error'], retryAfter: r.headers['retry-after'], body: await r.body.text() };
    };
    const queued = [answer('/api/v1/dags'), answer('/api/v1/dags')];
    await waitFor(() => gw.gateway.runtime.backends.get('airflow')!.queue.length === 2, 'two requests to wait in the queue');
    const overflow = await answer('/api/v1/dags');
    assert.equal(overflow.status, 503, 'past the queue size: 503 at once');
    assert.equal(overflow.code, 'AIRGATE_ERR_QUEUE_FULL');
    const stillServing = await http.req(`${gw.url}/_sim/echo`);
    assert.equal(stillServing.statusCode, 200, 'another backend is served while this one is saturated');
    assert.equal(stillServing.headers['x-sim-node'], 'other');
    await stillServing.body.dump();
    for (const q of await Promise.all(queued)) {
      assert.equal(q.status, 503);
      assert.equal(q.code, 'AIRGATE_ERR_QUEUE_TIMEOUT');
      assert.equal(q.retryAfter, '1');
    }
    assert.equal(sims[0]!.hungRequests + sims[1]!.hungRequests, 2, 'queued requests never reached the hung servers');
    for (const s of sims) s.setFaults({ hang: false });
    await Promise.all(occupying);
  } finally {
    await gw.gateway.stop(0);
    await http.close();
    await Promise.all([...sims, other!].map((s) => s.stop()));
  }
});
