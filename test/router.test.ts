import { pino } from 'pino';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../src/config/load.js';
import type { Router } from '../src/server/router.js';
import { Runtime } from '../src/server/runtime.js';

/**
 * A Router built from YAML through the real loader and Runtime. `routes` is the YAML list under
 * `routes:` (one `- {...}` per line); every route may use backends `web` or `api`.
 */
function routerFor(t: TestContext, routes: string[]): { router: Router; runtime: Runtime } {
  const yaml = `listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  web:
    servers:
      - { name: web-1, url: http://127.0.0.1:9 }
  api:
    servers:
      - { name: api-1, url: http://127.0.0.1:10 }
routes:
${routes.map((r) => `  - ${r}`).join('\n')}
`;
  const runtime = new Runtime(loadConfigText(yaml, 'router-test.yaml'), pino({ level: 'silent' }));
  t.after(() => runtime.destroy());
  return { router: runtime.router, runtime };
}

/** The name of the route chosen for a host header and request target, or undefined. */
const pick = (router: Router, host: string | undefined, url: string): string | undefined => router.match(host, url)?.name;

test('the longest matching prefix wins, whatever the order in the file', async (t) => {
  for (const order of [
    ['{ name: root, path: /, backend: web }', '{ name: api, path: /api, backend: api }', '{ name: api-v1, path: /api/v1, backend: api }'],
    ['{ name: api-v1, path: /api/v1, backend: api }', '{ name: api, path: /api, backend: api }', '{ name: root, path: /, backend: web }'],
    ['{ name: api, path: /api, backend: api }', '{ name: root, path: /, backend: web }', '{ name: api-v1, path: /api/v1, backend: api }'],
  ]) {
    const { router } = routerFor(t, order);
    assert.equal(pick(router, 'airflow.local', '/api/v1/dags'), 'api-v1', order.join(' '));
    assert.equal(pick(router, 'airflow.local', '/api/v1'), 'api-v1');
    assert.equal(pick(router, 'airflow.local', '/api/v2/dags'), 'api');
    assert.equal(pick(router, 'airflow.local', '/api'), 'api');
    assert.equal(pick(router, 'airflow.local', '/home'), 'root');
    assert.equal(pick(router, 'airflow.local', '/'), 'root');
  }
});

test('the chosen route carries its backend and timeouts from the config', async (t) => {
  const { router, runtime } = routerFor(t, ['{ name: root, path: /, backend: web }', '{ name: logs, path: /api/v1/dags, backend: api, preserve_host: false, timeouts: { response_headers: 180s, body_idle: 10m, request: 15m } }']);
  const logs = router.match('x', '/api/v1/dags/d/dagRuns');
  assert.ok(logs);
  assert.equal(logs.backend, runtime.backends.get('api'));
  assert.equal(logs.prefix, '/api/v1/dags');
  assert.equal(logs.preserveHost, false);
  assert.equal(logs.headersTimeout, 180_000);
  assert.equal(logs.bodyTimeout, 600_000);
  assert.equal(logs.requestTimeout, 900_000);
  const root = router.match('x', '/home');
  assert.ok(root);
  assert.equal(root.backend, runtime.backends.get('web'));
  assert.equal(root.preserveHost, true);
});

test('a prefix matches whole path segments only', async (t) => {
  const { router } = routerFor(t, ['{ name: api, path: /api, backend: api }', '{ name: static, path: /static/, backend: web }']);
  for (const url of ['/api', '/api/', '/api/v1', '/api/v1/dags?limit=5', '/api?x=1', '/api?next=/apis']) {
    assert.equal(pick(router, 'h', url), 'api', url);
  }
  for (const url of ['/apis', '/api-docs', '/apiv1', '/ap', '/', '/x/api', '/apis?x=/api']) {
    assert.equal(pick(router, 'h', url), undefined, url);
  }
  assert.equal(pick(router, 'h', '/static/main.css'), 'static');
  assert.equal(pick(router, 'h', '/static/'), 'static');
  assert.equal(pick(router, 'h', '/staticfiles/x'), undefined);
});

test('routes naming the host beat host-less ones, even with a shorter prefix', async (t) => {
  const { router } = routerFor(t, ['{ name: any-api, path: /api/v1, backend: api }', '{ name: any-root, path: /, backend: web }', '{ name: host-root, host: airflow.example.com, path: /, backend: web }']);
  assert.equal(pick(router, 'airflow.example.com', '/api/v1/dags'), 'host-root');
  assert.equal(pick(router, 'airflow.example.com', '/home'), 'host-root');
  assert.equal(pick(router, 'other.example.com', '/api/v1/dags'), 'any-api');
  assert.equal(pick(router, 'other.example.com', '/home'), 'any-root');
  assert.equal(pick(router, undefined, '/api/v1/dags'), 'any-api', 'no Host header: host-less routes only');
});

test('a host route whose path does not match falls back to the host-less routes', async (t) => {
  const { router } = routerFor(t, ['{ name: host-ui, host: airflow.example.com, path: /ui, backend: web }', '{ name: any-api, path: /api, backend: api }']);
  assert.equal(pick(router, 'airflow.example.com', '/ui/dags'), 'host-ui');
  assert.equal(pick(router, 'airflow.example.com', '/api/v2/dags'), 'any-api');
  assert.equal(pick(router, 'other.example.com', '/ui/dags'), undefined);
});

test('host matching ignores case and a port', async (t) => {
  const { router } = routerFor(t, ['{ name: host-root, host: Airflow.Example.COM, path: /, backend: web }', '{ name: any-root, path: /, backend: api }']);
  for (const host of ['airflow.example.com', 'AIRFLOW.EXAMPLE.COM', 'Airflow.example.com:8443', 'airflow.example.com:80']) {
    assert.equal(pick(router, host, '/home'), 'host-root', host);
  }
  assert.equal(pick(router, 'airflow.example.org', '/home'), 'any-root');
  assert.equal(pick(router, 'airflow.example.com.evil', '/home'), 'any-root');
});

test('a wildcard host matches subdomains but not the bare domain', async (t) => {
  const { router } = routerFor(t, ['{ name: wild, host: "*.example.com", path: /, backend: web }', '{ name: any-root, path: /, backend: api }']);
  assert.equal(pick(router, 'a.example.com', '/home'), 'wild');
  assert.equal(pick(router, 'A.Example.Com:8080', '/home'), 'wild');
  assert.equal(pick(router, 'deep.a.example.com', '/home'), 'wild');
  assert.equal(pick(router, 'example.com', '/home'), 'any-root');
  assert.equal(pick(router, 'badexample.com', '/home'), 'any-root');
  assert.equal(pick(router, '.example.com', '/home'), 'any-root');
  assert.equal(pick(router, 'example.com.other', '/home'), 'any-root');
});

test('an exact host beats a wildcard, and a longer wildcard beats a shorter one', async (t) => {
  const { router } = routerFor(t, [
    '{ name: wild, host: "*.example.com", path: /, backend: web }',
    '{ name: wild-eu, host: "*.eu.example.com", path: /, backend: web }',
    '{ name: exact, host: a.example.com, path: /, backend: api }',
    '{ name: exact-eu, host: x.eu.example.com, path: /, backend: api }',
  ]);
  assert.equal(pick(router, 'a.example.com', '/'), 'exact');
  assert.equal(pick(router, 'b.example.com', '/'), 'wild');
  assert.equal(pick(router, 'x.eu.example.com', '/'), 'exact-eu');
  assert.equal(pick(router, 'y.eu.example.com', '/'), 'wild-eu');
  assert.equal(pick(router, 'eu.example.com', '/'), 'wild');
});

test('no matching route gives undefined', async (t) => {
  const { router } = routerFor(t, ['{ name: host-api, host: airflow.example.com, path: /api, backend: api }', '{ name: wild-ui, host: "*.example.org", path: /ui, backend: web }']);
  assert.equal(pick(router, 'airflow.example.com', '/home'), undefined);
  assert.equal(pick(router, 'other.example.com', '/api'), undefined);
  assert.equal(pick(router, 'a.example.org', '/api'), undefined);
  assert.equal(pick(router, undefined, '/api'), undefined);
  assert.equal(pick(router, '', '/api'), undefined);
});
