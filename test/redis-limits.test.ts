import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startGateway } from './helpers/gateway.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { SharedGcra } from '../src/policy/redis-gcra.js';

function yaml(sim: SimulatedAirflow, redisUrl: string): string {
  return `listeners: [{ name: p, address: "127.0.0.1:0" }]
trusted_proxies: [127.0.0.0/8]
store: { type: redis, url: "${redisUrl}" }
rate_limits:
  - { name: per-client, match: { paths: [/health] }, key: [client_ip], rate: 1/h, burst: 10 }
backends: { a: { health: { enabled: false }, servers: [{ name: w, url: "${sim.url}" }] } }
routes: [{ path: /, backend: a }]
`;
}

test('two instances sharing a real redis-server enforce one total; Redis killed → local limits, and back when it returns', async () => {
  const redis = await startRedis();
  const sim = await new SimulatedAirflow({ name: 'w' }).start();
  const a = await startGateway(yaml(sim, redis.url));
  const b = await startGateway(yaml(sim, redis.url));
  let redis2: Awaited<ReturnType<typeof startRedis>> | undefined;
  const hit = async (url: string, client: string) => {
    const r = await request(`${url}/health`, { headers: { 'x-forwarded-for': client } });
    await r.body.dump();
    return r.statusCode;
  };
  try {
    await waitFor(() => (a.gateway.runtime.limits.shared as SharedGcra).redis.status === 'ready' && (b.gateway.runtime.limits.shared as SharedGcra).redis.status === 'ready', 'both instances connected to Redis');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push(await hit(a.url, '198.51.100.1'));
      statuses.push(await hit(b.url, '198.51.100.1'));
    }
    const allowed = statuses.filter((s) => s === 200).length;
    assert.equal(allowed, 10, `one total of 10 across both instances (got ${allowed} of 20: ${statuses.join(',')})`);
    assert.equal(statuses.filter((s) => s === 429).length, 10);

    // Redis dies: both keep serving, with each instance's own counters.
    await redis.stop();
    const during: number[] = [];
    for (let i = 0; i < 12; i++) during.push(await hit(i % 2 ? a.url : b.url, '198.51.100.2'));
    assert.ok(
      during.every((s) => s === 200 || s === 429),
      `no errors while Redis is down: ${during.join(',')}`,
    );
    assert.ok(during.filter((s) => s === 200).length >= 10, 'local limits still let clients through');
    assert.ok(
      a.logs.lines.some((l) => String(l.msg).startsWith('Redis unreachable')),
      'the fallback is logged',
    );
    assert.equal(a.gateway.runtime.limits.shared!.degraded, true);

    // Redis returns on the same port: counting is shared again.
    redis2 = await startRedis(redis.port);
    await waitFor(() => (a.gateway.runtime.limits.shared as SharedGcra).redis.status === 'ready' && (b.gateway.runtime.limits.shared as SharedGcra).redis.status === 'ready', 'both instances to reconnect', 10_000);
    const after: number[] = [];
    for (let i = 0; i < 8; i++) {
      after.push(await hit(a.url, '198.51.100.3'));
      after.push(await hit(b.url, '198.51.100.3'));
    }
    assert.equal(after.filter((s) => s === 200).length, 10, `shared again: ${after.join(',')}`);
    assert.equal(a.gateway.runtime.limits.shared!.degraded, false);
  } finally {
    await a.gateway.stop(0);
    await b.gateway.stop(0);
    await sim.stop();
    await redis.stop();
    await redis2?.stop();
  }
});

test('login lockouts and the secret-key drift signal reach every instance through Redis', async () => {
  const redis = await startRedis();
  const v3 = await new SimulatedAirflow({ name: 'af3', airflow: 3 }).start();
  const cfg = `listeners: [{ name: p, address: "127.0.0.1:0" }]
trusted_proxies: [127.0.0.0/8]
store: { type: redis, url: "${redis.url}" }
login_protection: { max_failures: 3, window: 1m, lockout: 30s }
backends: { a: { airflow: 3, health: { enabled: false }, servers: [{ name: af3, url: "${v3.url}" }] } }
routes: [{ path: /, backend: a }]
`;
  const a = await startGateway(cfg);
  const b = await startGateway(cfg);
  try {
    await waitFor(() => (a.gateway as unknown as { bus: { ready: boolean } }).bus.ready && (b.gateway as unknown as { bus: { ready: boolean } }).bus.ready, 'both instances on the bus');
    for (let i = 0; i < 3; i++) {
      const r = await request(`${a.url}/auth/token`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.9', 'content-type': 'application/json' }, body: '{"username":"admin","password":"wrong"}' });
      assert.equal(r.statusCode, 401);
      await r.body.dump();
    }
    await waitFor(() => b.gateway.runtime.loginGuard.lockedFor(['ip:203.0.113.9'], Date.now()) > 0, 'instance B to learn the lockout');
    const atB = await request(`${b.url}/auth/token`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.9', 'content-type': 'application/json' }, body: '{"username":"admin","password":"admin"}' });
    assert.equal(atB.statusCode, 429);
    assert.equal(atB.headers['x-airgate-error'], 'AIRGATE_ERR_LOGIN_LOCKED');
    await atB.body.dump();

    // Two signs raise it (one stale form is not drift); both reach B.
    (a.gateway.observer.drift as unknown as { raise(b: string, s: string, n: string[]): void }).raise('a', 'The CSRF session token is missing.', ['af3']);
    (a.gateway.observer.drift as unknown as { raise(b: string, s: string, n: string[]): void }).raise('a', 'The CSRF session token is missing.', ['af3']);
    await waitFor(() => b.gateway.observer.drift.active().has('a'), 'instance B to show the drift signal');
  } finally {
    await a.gateway.stop(0);
    await b.gateway.stop(0);
    await v3.stop();
    await redis.stop();
  }
});
