import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { client, startGateway, startSims, type LogCapture } from './helpers/gateway.js';
import { waitFor } from './helpers/wait.js';
import type { Gateway } from '../src/server/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';

const TOKEN = 'an-admin-token-0123456789';
const STICKY_KEY = 'sticky-key-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface Setup {
  sims: SimulatedAirflow[];
  gateway: Gateway;
  url: string;
  admin: string;
  logs: LogCapture;
  http: ReturnType<typeof client>;
}

/** Three sims, a gateway with health checks, round robin, stickiness and a 300 ms drain grace, and an admin listener. */
async function setup(t: TestContext): Promise<Setup> {
  const sims = await startSims(3);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: "${TOKEN}" }
backends:
  airflow:
    balance: round-robin
    sticky: { keys: ["${STICKY_KEY}"] }
    drain_grace: 300ms
    health: { interval: 500ms, timeout: 400ms }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow }
`;
  const { gateway, url, logs } = await startGateway(yaml);
  t.after(() => gateway.stop(0));
  const http = client();
  t.after(() => http.close());
  assert.ok(gateway.admin, 'the admin listener is configured');
  return { sims, gateway, url, admin: `http://127.0.0.1:${gateway.admin.port}`, logs, http };
}

async function getJson(s: Setup, path: string, headers: Record<string, string> = AUTH): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const res = await s.http.req(`${s.admin}${path}`, { headers });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
}

async function post(s: Setup, path: string, body: string | undefined, headers: Record<string, string> = { ...AUTH, 'content-type': 'application/json' }): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await s.http.req(`${s.admin}${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

const setServer = (s: Setup, change: Record<string, unknown>, server = 'web-2') => post(s, `/backends/airflow/servers/${server}`, JSON.stringify(change));

/** One request through the gateway; the node that answered it (x-sim-node). */
async function via(s: Setup, cookie?: string): Promise<string> {
  const res = await s.http.req(`${s.url}/health`, { headers: cookie ? { cookie } : {} });
  assert.equal(res.statusCode, 200, `request through the gateway answered ${res.statusCode}`);
  await res.body.dump();
  return String(res.headers['x-sim-node']);
}

async function spread(s: Setup, n: number, cookie?: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const node = await via(s, cookie);
    counts[node] = (counts[node] ?? 0) + 1;
  }
  return counts;
}

const stickyCookie = (s: Setup, server: string) => `airgate_node=${s.gateway.runtime.backends.get('airflow')!.sticky!.sign(server, Date.now())}`;
const web2 = (s: Setup) => s.gateway.runtime.backends.get('airflow')!.server('web-2')!;

test('GET /healthz needs no token; /status needs the right bearer token', async (t) => {
  const s = await setup(t);
  const health = await getJson(s, '/healthz', {});
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });

  const none = await getJson(s, '/status', {});
  assert.equal(none.status, 401);
  assert.match(String(none.headers['www-authenticate']), /^Bearer /);
  assert.match(String(none.body.error), /bearer token/);

  const wrong = await getJson(s, '/status', { authorization: `Bearer ${TOKEN}x` });
  assert.equal(wrong.status, 401);
  const wrongScheme = await getJson(s, '/status', { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` });
  assert.equal(wrongScheme.status, 401);
  const changeWithoutToken = await post(s, '/backends/airflow/servers/web-2', '{"state":"maint"}', { 'content-type': 'application/json' });
  assert.equal(changeWithoutToken.status, 401);
  assert.equal(web2(s).admin, 'ready', 'an unauthorized change changes nothing');

  const ok = await getJson(s, '/status');
  assert.equal(ok.status, 200);
  const backends = ok.body.backends as { name: string; balance: string; clusterDegraded: unknown; servers: { name: string; id: string; url: string; status: string; health: string; admin: string; weight: number }[] }[];
  assert.equal(backends.length, 1);
  const b = backends[0]!;
  assert.equal(b.name, 'airflow');
  assert.equal(b.balance, 'round-robin');
  assert.equal(b.clusterDegraded, null);
  assert.deepEqual(
    b.servers.map((x) => x.name),
    ['web-1', 'web-2', 'web-3'],
  );
  for (const [i, x] of b.servers.entries()) {
    assert.equal(x.status, 'up');
    assert.equal(x.weight, 1);
    assert.equal(x.admin, 'ready');
    assert.equal(x.id, `airflow/web-${i + 1}`);
    assert.equal(x.url, s.sims[i]!.url);
  }

  const one = await getJson(s, '/backends/airflow/servers/web-3');
  assert.equal(one.status, 200);
  assert.equal(one.body.id, 'airflow/web-3');
  assert.equal(one.body.status, 'up');
});

test('drain: no new traffic, sticky sessions keep the server until drain_grace ends; maint: no traffic at all; ready: back', async (t) => {
  const s = await setup(t);
  const cookie = stickyCookie(s, 'web-2');
  assert.equal(await via(s, cookie), 'web-2', 'the sticky cookie leads to web-2');
  const before = await spread(s, 6);
  assert.deepEqual(before, { 'web-1': 2, 'web-2': 2, 'web-3': 2 }, 'round robin over the three');

  const drain = await setServer(s, { state: 'drain' });
  const graceEnds = Date.now() + 300;
  assert.equal(drain.status, 200);
  assert.equal(drain.body.status, 'drain');
  assert.equal(drain.body.admin, 'drain');
  assert.equal(drain.body.id, 'airflow/web-2');
  assert.equal(web2(s).admin, 'drain');

  assert.equal(await via(s, cookie), 'web-2', 'a sticky session still reaches the draining server within drain_grace');
  const drained = await spread(s, 30);
  assert.equal(drained['web-2'], undefined, `new requests reached a draining server: ${JSON.stringify(drained)}`);
  assert.equal((drained['web-1'] ?? 0) + (drained['web-3'] ?? 0), 30);

  await waitFor(() => Date.now() > graceEnds + 20, 'the drain grace to end', 5000);
  assert.notEqual(await via(s, cookie), 'web-2', 'after drain_grace even sticky sessions leave');
  const status = await getJson(s, '/status');
  const servers = (status.body.backends as { servers: { name: string; status: string }[] }[])[0]!.servers;
  assert.equal(servers.find((x) => x.name === 'web-2')!.status, 'drain');

  const maint = await setServer(s, { state: 'maint' });
  assert.equal(maint.status, 200);
  assert.equal(maint.body.status, 'maint');
  const seen = s.sims[1]!.requests;
  const inMaint = await spread(s, 20);
  assert.equal(inMaint['web-2'], undefined);
  assert.notEqual(await via(s, stickyCookie(s, 'web-2')), 'web-2', 'maint: not even a fresh sticky cookie reaches it');
  assert.equal(s.sims[1]!.requests, seen, 'web-2 received no request at all in maint');

  const ready = await setServer(s, { state: 'ready' });
  assert.equal(ready.status, 200);
  assert.equal(ready.body.status, 'up');
  assert.equal(web2(s).admin, 'ready');
  const back = await spread(s, 30);
  assert.ok((back['web-2'] ?? 0) >= 9 && (back['web-2'] ?? 0) <= 11, `traffic returns to web-2: ${JSON.stringify(back)}`);
  assert.equal(await via(s, cookie), 'web-2', 'sticky sessions return too');

  const changes = s.logs.lines.filter((l) => typeof l.msg === 'string' && / set to /.test(l.msg));
  const drainLog = changes.find((l) => String(l.msg).includes('set to drain'));
  assert.ok(drainLog, 'the drain is logged');
  assert.equal(drainLog.msg, 'server airflow/web-2 set to drain');
  assert.equal(drainLog.server, 'airflow/web-2');
  assert.equal(drainLog.from, 'ready');
  assert.equal(drainLog.to, 'drain');
  assert.equal(drainLog.drainGraceMs, 300);
  assert.deepEqual(
    changes.map((l) => [l.msg, l.from, l.to]),
    [
      ['server airflow/web-2 set to drain', 'ready', 'drain'],
      ['server airflow/web-2 set to maint', 'drain', 'maint'],
      ['server airflow/web-2 set to ready', 'maint', 'ready'],
    ],
  );
});

test('weight 0 takes a server out, weight 3 gives it 3/5 of round-robin traffic', async (t) => {
  const s = await setup(t);
  const zero = await setServer(s, { weight: 0 });
  assert.equal(zero.status, 200);
  assert.equal(zero.body.weight, 0);
  const seen = s.sims[1]!.requests;
  const without = await spread(s, 20);
  assert.equal(without['web-2'], undefined, JSON.stringify(without));
  assert.deepEqual(without, { 'web-1': 10, 'web-3': 10 });
  assert.notEqual(await via(s, stickyCookie(s, 'web-2')), 'web-2', 'weight 0: sticky sessions leave too');
  assert.equal(s.sims[1]!.requests, seen);

  const three = await setServer(s, { weight: 3 });
  assert.equal(three.status, 200);
  assert.equal(three.body.weight, 3);
  assert.equal(three.body.status, 'up');
  assert.equal(web2(s).weight, 3);
  const weighted = await spread(s, 50);
  // Requests are sequential and only they move the smooth round robin, so the split is exact: 3/5, 1/5, 1/5.
  assert.deepEqual(weighted, { 'web-1': 10, 'web-2': 30, 'web-3': 10 });

  const both = await setServer(s, { state: 'drain', weight: 2 });
  assert.equal(both.status, 200);
  assert.equal(both.body.status, 'drain');
  assert.equal(both.body.weight, 2);

  const weightLogs = s.logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('weight set to'));
  assert.deepEqual(
    weightLogs.map((l) => [l.msg, l.from, l.to]),
    [
      ['server airflow/web-2 weight set to 0', 1, 0],
      ['server airflow/web-2 weight set to 3', 0, 3],
      ['server airflow/web-2 weight set to 2', 3, 2],
    ],
  );
});

test('bad requests are refused with 400 and a clear message; unknown servers with 404; nothing changes', async (t) => {
  const s = await setup(t);
  const cases: [string, string | undefined, RegExp][] = [
    ['unknown state', '{"state":"sleep"}', /state must be one of ready, drain, maint/],
    ['weight too large', '{"weight":5000}', /weight must be an integer from 0 to 1000/],
    ['negative weight', '{"weight":-1}', /weight must be an integer from 0 to 1000/],
    ['fractional weight', '{"weight":1.5}', /weight must be an integer from 0 to 1000/],
    ['weight as a string', '{"weight":"3"}', /weight must be an integer from 0 to 1000/],
    ['not JSON', 'state=drain', /expected a JSON body such as \{"state":"drain"\}/],
    ['empty body', undefined, /give state and\/or weight/],
    ['empty object', '{}', /give state and\/or weight/],
    ['JSON null', 'null', /expected a JSON body such as/],
    ['a JSON array', '[{"state":"drain"}]', /expected a JSON body such as/],
    ['a JSON string', '"drain"', /expected a JSON body such as/],
  ];
  for (const [what, body, message] of cases) {
    const r = await post(s, '/backends/airflow/servers/web-2', body);
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.match(String(r.body.error), message, what);
  }
  assert.equal(web2(s).admin, 'ready');
  assert.equal(web2(s).weight, 1);

  const unknownServer = await setServer(s, { state: 'drain' }, 'web-9');
  assert.equal(unknownServer.status, 404);
  assert.match(String(unknownServer.body.error), /airflow\/web-9/);
  const unknownBackend = await post(s, '/backends/nope/servers/web-2', '{"state":"drain"}');
  assert.equal(unknownBackend.status, 404);
  const unknownGet = await getJson(s, '/backends/airflow/servers/web-9');
  assert.equal(unknownGet.status, 404);
  const unknownEndpoint = await getJson(s, '/nothing-here');
  assert.equal(unknownEndpoint.status, 404);
  assert.equal(s.logs.lines.filter((l) => typeof l.msg === 'string' && /set to/.test(l.msg)).length, 0, 'nothing was logged as changed');
});

test('/_airgate/health on the public listener answers the gateway itself and never reaches a sim', async (t) => {
  const s = await setup(t);
  const before = s.sims.map((x) => x.requests);
  for (let i = 0; i < 5; i++) {
    const res = await s.http.req(`${s.url}/_airgate/health`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(await res.body.json(), { status: 'ok' });
    assert.equal(res.headers['x-sim-node'], undefined);
  }
  assert.deepEqual(
    s.sims.map((x) => x.requests),
    before,
    'no sim saw a request',
  );
});
