import { createServer as createHttpServer } from 'node:http';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startSims } from './helpers/gateway.js';
import { envWithoutToken, runCli as run } from './helpers/cli.js';
import { freePort } from './helpers/port.js';
import type { Gateway } from '../src/server/gateway.js';

const TOKEN = 'cli-admin-token-0123456789';

async function gatewayWithAdmin(t: TestContext): Promise<{ gateway: Gateway; admin: string }> {
  const sims = await startSims(3);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const { gateway } = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: "${TOKEN}" }
backends:
  airflow:
    health: { enabled: false }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - { path: /, backend: airflow }
`);
  t.after(() => gateway.stop(0));
  return { gateway, admin: `http://127.0.0.1:${gateway.admin!.port}` };
}

const web2 = (g: Gateway) => g.runtime.backends.get('airflow')!.server('web-2')!;

test('drain, maint, ready and weight change the server and print its new state', async (t) => {
  const { gateway, admin } = await gatewayWithAdmin(t);
  const backend = (action: string, ...rest: string[]) => run(t, ['backend', action, 'airflow/web-2', ...rest, '--admin', admin, '--token', TOKEN]);

  const drain = await backend('drain');
  assert.equal(drain.code, 0, drain.stderr);
  assert.equal(drain.stdout, 'airflow/web-2: drain, weight 1\n');
  assert.equal(drain.stderr, '');
  assert.equal(web2(gateway).admin, 'drain');

  const maint = await backend('maint');
  assert.equal(maint.code, 0, maint.stderr);
  assert.equal(maint.stdout, 'airflow/web-2: maint, weight 1\n');
  assert.equal(web2(gateway).admin, 'maint');

  const ready = await backend('ready');
  assert.equal(ready.code, 0, ready.stderr);
  assert.equal(ready.stdout, 'airflow/web-2: up, weight 1\n');
  assert.equal(web2(gateway).admin, 'ready');

  const weight = await backend('weight', '3');
  assert.equal(weight.code, 0, weight.stderr);
  assert.equal(weight.stdout, 'airflow/web-2: up, weight 3\n');
  assert.equal(web2(gateway).weight, 3);

  // The token may come from the environment instead of --token; a trailing slash on --admin is fine.
  const fromEnv = await run(t, ['backend', 'weight', 'airflow/web-2', '0', '--admin', `${admin}/`], { ...envWithoutToken(), AIRGATE_ADMIN_TOKEN: TOKEN });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.equal(fromEnv.stdout, 'airflow/web-2: up, weight 0\n');
  assert.equal(web2(gateway).weight, 0);
  assert.equal(web2(gateway).available(gateway.runtime.backends.get('airflow')!.clock.now()), false);

  // The other servers were never touched.
  for (const name of ['web-1', 'web-3']) {
    const s = gateway.runtime.backends.get('airflow')!.server(name)!;
    assert.equal(s.admin, 'ready');
    assert.equal(s.weight, 1);
  }
});

test('a wrong token exits 1 with the API error and changes nothing', async (t) => {
  const { gateway, admin } = await gatewayWithAdmin(t);
  const r = await run(t, ['backend', 'drain', 'airflow/web-2', '--admin', admin, '--token', `${TOKEN}-wrong`]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^airgate backend: a valid admin bearer token is required\n$/);
  assert.equal(web2(gateway).admin, 'ready');
});

test('an unknown server or an invalid weight exits 1 with a message', async (t) => {
  const { gateway, admin } = await gatewayWithAdmin(t);
  const unknown = await run(t, ['backend', 'drain', 'airflow/web-9', '--admin', admin, '--token', TOKEN]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no server airflow\/web-9/);

  const tooHeavy = await run(t, ['backend', 'weight', 'airflow/web-2', '5000', '--admin', admin, '--token', TOKEN]);
  assert.equal(tooHeavy.code, 1);
  assert.match(tooHeavy.stderr, /expected a weight from 0 to 1000, found "5000"/);
  const missing = await run(t, ['backend', 'weight', 'airflow/web-2', '--admin', admin, '--token', TOKEN]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /expected a weight from 0 to 1000/);

  const action = await run(t, ['backend', 'sleep', 'airflow/web-2', '--admin', admin, '--token', TOKEN]);
  assert.equal(action.code, 1);
  assert.match(action.stderr, /unknown action "sleep" \(expected ready, drain, maint or weight\)/);
  assert.equal(web2(gateway).weight, 1);
  assert.equal(web2(gateway).admin, 'ready');
});

test('a server id without BACKEND/ exits 1 naming the expected form', async (t) => {
  const { gateway, admin } = await gatewayWithAdmin(t);
  for (const id of ['web-2', '/web-2', 'airflow/']) {
    const r = await run(t, ['backend', 'drain', id, '--admin', admin, '--token', TOKEN]);
    assert.equal(r.code, 1, id);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /expected BACKEND\/SERVER such as airflow\/web-2/, id);
    assert.ok(r.stderr.includes(`"${id}"`), `the message quotes what was given: ${r.stderr}`);
  }
  assert.equal(web2(gateway).admin, 'ready');
});

test('no token (no --token, no AIRGATE_ADMIN_TOKEN) exits 1 saying how to give one', async (t) => {
  const { gateway, admin } = await gatewayWithAdmin(t);
  const r = await run(t, ['backend', 'drain', 'airflow/web-2', '--admin', admin]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /--token or AIRGATE_ADMIN_TOKEN/);
  assert.equal(web2(gateway).admin, 'ready');
});

test('an unreachable admin URL exits 1 saying it cannot reach it', async (t) => {
  // A port that was free a moment ago and has nothing listening now.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const r = await run(t, ['backend', 'drain', 'airflow/web-2', '--admin', url, '--token', TOKEN]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`cannot reach the admin API at ${url.replace(/\./g, '\\.')}: ECONNREFUSED`));
});

test('an --admin URL that is not the admin API exits 1 with a message, not a stack trace', async (t) => {
  const other = createHttpServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<!doctype html><h1>Not Found</h1>');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const url = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  const r = await run(t, ['backend', 'drain', 'airflow/web-2', '--admin', url, '--token', TOKEN]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `airgate backend: ${url} answered 404 without a server status; is it the admin API?\n`);
});
