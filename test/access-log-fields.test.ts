import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { pino } from 'pino';
import { Gateway } from '../src/server/gateway.js';
import { loadConfigText } from '../src/config/load.js';
import type { Destination } from '../src/observability/destination.js';
import { LogCapture, startSims } from './helpers/gateway.js';
import { TestPki } from './helpers/certs.js';
import { waitFor } from './helpers/wait.js';

test('access log: host, HTTP version, user agent, client port, TLS version, SNI and the upstream address; the user decided once', async () => {
  const pki = new TestPki();
  const leaf = pki.issue('gw', ['airflow.test']);
  const [sim] = await startSims(1);
  const access = new LogCapture();
  const gateway = new Gateway(
    loadConfigText(
      `listeners:
  - name: tls
    address: 127.0.0.1:0
    tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }] }
backends:
  airflow:
    servers: [{ name: web-1, url: ${sim!.url} }]
    health: { enabled: false }
routes:
  - { path: /, backend: airflow }
`,
      'test.yaml',
    ),
    { logger: pino({ level: 'silent' }), observer: { accessDestination: access as unknown as Destination } },
  );
  await gateway.start();
  const agent = new Agent({ connect: { ca: pki.read(pki.caCert), servername: 'airflow.test' } });
  try {
    const r = await request(`https://127.0.0.1:${gateway.port('tls')}/api/v1/dags`, { dispatcher: agent, headers: { host: 'airflow.test', 'user-agent': 'fields-test/1.0', authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
    await r.body.dump();
    const id = r.headers['x-request-id'];
    await waitFor(() => access.lines.some((l) => l.request_id === id), 'the access line');
    const line = access.lines.find((l) => l.request_id === id)!;
    assert.equal(line.host, 'airflow.test');
    assert.equal(line.http_version, '1.1');
    assert.equal(line.user_agent, 'fields-test/1.0');
    assert.ok(typeof line.client_port === 'number' && line.client_port > 0, 'the client port');
    assert.match(String(line.tls_version), /^TLSv1\.[23]$/);
    assert.equal(line.sni, 'airflow.test');
    assert.equal(line.upstream, new URL(sim!.url).host);
    assert.equal(line.user, 'admin', 'a GET with Basic credentials logs the user it claims');
    assert.equal(line.auth, 'basic');
  } finally {
    await agent.close();
    await gateway.stop(0);
    await sim!.stop();
    pki.cleanup();
  }
});
