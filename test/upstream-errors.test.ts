import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { stuckListener } from './helpers/stuck-listener.js';
import { once } from 'node:events';
import { basicYaml, client, startGateway, startSims, type LogCapture } from './helpers/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import type { Gateway } from '../src/server/gateway.js';
import { waitFor } from './helpers/wait.js';

const http = client();
after(() => http.close());

async function withGateway(yaml: string, fn: (url: string, gateway: Gateway, logs: LogCapture) => Promise<void>): Promise<void> {
  const { gateway, url, logs } = await startGateway(yaml);
  try {
    await fn(url, gateway, logs);
  } finally {
    await gateway.stop(0);
  }
}

/** A port with nothing listening on it: bind, note the port, close. */
async function deadPort(): Promise<number> {
  const s: Server = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

test('connection refused → 502 problem+json with the request id and x-airgate-error', async () => {
  const port = await deadPort();
  await withGateway(basicYaml([{ name: 'gone', url: `http://127.0.0.1:${port}` } as SimulatedAirflow]), async (url, _gw, logs) => {
    const res = await http.req(`${url}/api/v1/dags`, { headers: { accept: 'application/json' } });
    const logged = logs.lines.find((l) => l.msg === 'upstream request failed');
    assert.ok(logged, 'the failure is logged');
    assert.equal(logged.code, 'AIRGATE_ERR_UPSTREAM_CONNECT');
    assert.equal(logged.server, 'airflow/gone');
    assert.equal(logged.cause, 'ECONNREFUSED');
    assert.equal(logged.requestId, res.headers['x-request-id']);
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['x-airgate-error'], 'AIRGATE_ERR_UPSTREAM_CONNECT');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const body = (await res.body.json()) as { status: number; code: string; request_id: string };
    assert.equal(body.status, 502);
    assert.equal(body.code, 'AIRGATE_ERR_UPSTREAM_CONNECT');
    assert.equal(body.request_id, res.headers['x-request-id']);
  });
});

test('a browser gets the gateway error as an HTML page', async () => {
  const port = await deadPort();
  await withGateway(basicYaml([{ name: 'gone', url: `http://127.0.0.1:${port}` } as SimulatedAirflow]), async (url) => {
    const res = await http.req(`${url}/home`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    const html = await res.body.text();
    assert.match(html, /<h1>502 Bad Gateway<\/h1>/);
    assert.ok(html.includes(String(res.headers['x-request-id'])));
  });
});

test('upstream reset before answering → 502 AIRGATE_ERR_UPSTREAM_RESET; the gateway keeps serving', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims), async (url) => {
      sims[0]!.setFaults({ reset: true });
      const res = await http.req(`${url}/health`);
      assert.equal(res.statusCode, 502);
      assert.equal(res.headers['x-airgate-error'], 'AIRGATE_ERR_UPSTREAM_RESET');
      await res.body.dump();
      sims[0]!.setFaults({ reset: false });
      const ok = await http.req(`${url}/health`);
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a hung upstream → 504 after the route’s response-header timeout', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims, { route: '    timeouts: { response_headers: 200ms }' }), async (url) => {
      sims[0]!.setFaults({ hang: true });
      const res = await http.req(`${url}/health`);
      assert.equal(res.statusCode, 504);
      assert.equal(res.headers['x-airgate-error'], 'AIRGATE_ERR_UPSTREAM_TIMEOUT');
      await res.body.dump();
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('the whole-request timeout cuts a slow answer with 504 AIRGATE_ERR_REQUEST_TIMEOUT', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims, { route: '    timeouts: { request: 150ms }' }), async (url) => {
      sims[0]!.setFaults({ hang: true });
      const res = await http.req(`${url}/health`);
      assert.equal(res.statusCode, 504);
      assert.equal(res.headers['x-airgate-error'], 'AIRGATE_ERR_REQUEST_TIMEOUT');
      await res.body.dump();
      await waitFor(() => sims[0]!.hungRequests === 0, 'the upstream request to be aborted');
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a stream that goes silent longer than body_idle is cut, not left hanging', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims, { route: '    timeouts: { body_idle: 200ms }' }), async (url) => {
      const res = await http.req(`${url}/_sim/stream?gate=1&lines=3`);
      assert.equal(res.statusCode, 200);
      await assert.rejects(res.body.text(), (err: NodeJS.ErrnoException) => {
        assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_ABORTED'].includes(err.code ?? ''), String(err.code));
        return true;
      });
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a client that disconnects aborts its upstream request', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims), async (url) => {
      sims[0]!.setFaults({ hang: true });
      const ac = new AbortController();
      const pending = http.req(`${url}/health`, { signal: ac.signal });
      await waitFor(() => sims[0]!.hungRequests === 1, 'the request to reach Airflow');
      ac.abort();
      await assert.rejects(pending);
      await waitFor(() => sims[0]!.hungRequests === 0, 'the upstream request to be aborted');
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('no route → 404 AIRGATE_ERR_NO_ROUTE; no server available → 503 with Retry-After', async () => {
  const sims = await startSims(1);
  const yaml = `listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  airflow:
    servers:
      - { name: web-1, url: ${sims[0]!.url} }
  disabled:
    servers:
      - { name: web-9, url: ${sims[0]!.url}, weight: 0 }
routes:
  - host: airflow.example.com
    path: /
    backend: airflow
  - host: old.example.com
    path: /
    backend: disabled
`;
  try {
    await withGateway(yaml, async (url) => {
      const none = await http.req(`${url}/health`, { headers: { host: 'other.example.com' } });
      assert.equal(none.statusCode, 404);
      assert.equal(none.headers['x-airgate-error'], 'AIRGATE_ERR_NO_ROUTE');
      await none.body.dump();
      const down = await http.req(`${url}/health`, { headers: { host: 'old.example.com' } });
      assert.equal(down.statusCode, 503);
      assert.equal(down.headers['x-airgate-error'], 'AIRGATE_ERR_NO_SERVER');
      assert.equal(down.headers['retry-after'], '5');
      await down.body.dump();
      const ok = await http.req(`${url}/health`, { headers: { host: 'airflow.example.com' } });
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('Airflow’s own 500 passes through unmarked', async () => {
  const sims = await startSims(1);
  try {
    await withGateway(basicYaml(sims), async (url) => {
      sims[0]!.setFaults({ error500: true });
      const res = await http.req(`${url}/home`);
      assert.equal(res.statusCode, 500);
      assert.equal(res.headers['x-airgate-error'], undefined);
      assert.match(await res.body.text(), /Internal Server Error/);
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a server whose accept queue is full → 504 AIRGATE_ERR_UPSTREAM_CONNECT_TIMEOUT after timeouts.connect', async () => {
  const { port, close } = await stuckListener();
  try {
    const yaml = `listeners:
  - { name: public, address: 127.0.0.1:0 }
backends:
  airflow:
    timeouts: { connect: 200ms }
    servers:
      - { name: stuck, url: http://127.0.0.1:${port} }
routes:
  - { path: /, backend: airflow }
`;
    await withGateway(yaml, async (url) => {
      const res = await http.req(`${url}/health`);
      assert.equal(res.statusCode, 504);
      assert.equal(res.headers['x-airgate-error'], 'AIRGATE_ERR_UPSTREAM_CONNECT_TIMEOUT');
      await res.body.dump();
    });
  } finally {
    close();
  }
});
