import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createServer as createTlsServer, type ConnectionOptions } from 'node:tls';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, Client, request } from 'undici';
import { loadConfigFile, loadConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/config/config-error.js';
import { Gateway } from '../src/server/gateway.js';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { basicYaml, LogCapture, startGateway, startSims } from './helpers/gateway.js';
import { TestPki } from './helpers/certs.js';
import { eventually, handshake } from './helpers/tls-client.js';
import { waitFor } from './helpers/wait.js';

type Pair = { cert: string; key: string };
type Echo = { headers: Record<string, string | string[]>; httpVersion: string };

let pki: TestPki;
let ca: string;

before(() => {
  pki = new TestPki();
  ca = pki.read(pki.caCert);
});
after(() => pki.cleanup());

/** The `tls:` block of a listener (indented for basicYaml's `listener` slot). */
function tlsBlock(certs: Pair[], extra: string[] = []): string {
  return ['    tls:', '      certificates:', ...certs.map((c) => `        - { cert: ${c.cert}, key: ${c.key} }`), ...extra.map((l) => `      ${l}`)].join('\n');
}

function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Replace `target`'s files the way deployment tools do: write a temp file next to it, rename over. */
function replaceFile(target: string, content: Buffer | string): void {
  const tmp = `${target}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, target);
}

function replacePair(target: Pair, source: Pair): void {
  replaceFile(target.key, readFileSync(source.key));
  replaceFile(target.cert, readFileSync(source.cert));
}

function messages(logs: LogCapture, msg: string): Record<string, unknown>[] {
  return logs.lines.filter((l) => l.msg === msg);
}

const REFUSED = 'new TLS certificate refused; the previous one stays in service';

test('SNI picks the certificate whose SAN names the host; an unknown name gets the first certificate', async () => {
  const a = pki.issue('sni-a', ['a.example.test']);
  const b = pki.issue('sni-b', ['*.b.example.test']);
  const sims = await startSims(1);
  const gw = await startGateway(basicYaml(sims, { listener: tlsBlock([a, b]) }));
  try {
    const port = gw.gateway.port();
    const forA = await handshake(port, { servername: 'a.example.test', ca });
    assert.match(forA.subjectaltname, /\bDNS:a\.example\.test\b/);
    assert.doesNotMatch(forA.subjectaltname, /b\.example\.test/);
    assert.equal(forA.fingerprint256, fingerprintOf(a.cert));

    const forB = await handshake(port, { servername: 'x.b.example.test', ca });
    assert.match(forB.subjectaltname, /DNS:\*\.b\.example\.test/);
    assert.equal(forB.fingerprint256, fingerprintOf(b.cert));

    const upper = await handshake(port, { servername: 'X.B.Example.Test', ca });
    assert.equal(upper.fingerprint256, fingerprintOf(b.cert), 'SNI names are matched case-insensitively');

    // No certificate names these: the default (first) one is presented. The client accepts the
    // chain but skips the name check, as a browser would show a name mismatch instead.
    const noName = { ca, checkServerIdentity: () => undefined };
    const unknown = await handshake(port, { servername: 'unknown.example.test', ...noName });
    assert.match(unknown.subjectaltname, /DNS:a\.example\.test/);
    assert.equal(unknown.fingerprint256, fingerprintOf(a.cert));
    const tooDeep = await handshake(port, { servername: 'y.x.b.example.test', ...noName });
    assert.equal(tooDeep.fingerprint256, fingerprintOf(a.cert), 'a wildcard covers one label only');
    // No SNI at all (https://127.0.0.1/…, probes by IP): the default certificate too. Its SAN has IP:127.0.0.1.
    const noSni = await handshake(port, { ca });
    assert.equal(noSni.fingerprint256, fingerprintOf(a.cert));
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('HTTPS through the gateway: X-Forwarded-Proto https upstream; Strict-Transport-Security only with hsts', async () => {
  const a = pki.issue('https-a', ['a.example.test']);
  const sims = await startSims(1);
  const plain = await startGateway(basicYaml(sims, { listener: tlsBlock([a]) }));
  const hsts = await startGateway(basicYaml(sims, { listener: tlsBlock([a], ['hsts: { max_age: 1d, include_subdomains: true }']) }));
  const agent = new Agent({ connect: { ca, servername: 'a.example.test' } });
  try {
    for (const [gw, expected] of [
      [plain, undefined],
      [hsts, 'max-age=86400; includeSubDomains'],
    ] as const) {
      const port = gw.gateway.port();
      const res = await request(`https://127.0.0.1:${port}/_sim/echo?q=1`, { dispatcher: agent, headers: { host: 'a.example.test', 'x-forwarded-proto': 'http' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-sim-node'], 'web-1');
      assert.equal(res.headers['strict-transport-security'], expected);
      const echo = (await res.body.json()) as Echo;
      assert.equal(echo.headers['x-forwarded-proto'], 'https', 'the listener, not the client, says the scheme');
      assert.equal(echo.headers['x-forwarded-port'], String(port));
      assert.equal(echo.headers.host, 'a.example.test');
    }
  } finally {
    await agent.close();
    await plain.gateway.stop(0);
    await hsts.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('a certificate replaced on disk serves new connections; a keep-alive connection opened before keeps working', async () => {
  const live = pki.issue('rot', ['rot.example.test']);
  const next = pki.issue('rot-next', ['rot.example.test']);
  const sims = await startSims(1);
  const gw = await startGateway(basicYaml(sims, { listener: `    timeouts: { keep_alive: 30s }\n${tlsBlock([live])}` }));
  const port = gw.gateway.port();
  const opts: ConnectionOptions = { servername: 'rot.example.test', ca };
  const keepAlive = new Client(`https://127.0.0.1:${port}`, { connect: opts, keepAliveTimeout: 30_000 });
  let connections = 0;
  keepAlive.on('connect', () => connections++);
  try {
    const old = await handshake(port, opts);
    assert.equal(old.fingerprint256, fingerprintOf(live.cert));
    const first = await keepAlive.request({ path: '/_sim/echo', method: 'GET', headers: { host: 'rot.example.test' } });
    assert.equal(first.statusCode, 200);
    await first.body.dump();

    const nextFingerprint = fingerprintOf(next.cert);
    assert.notEqual(nextFingerprint, old.fingerprint256);
    replacePair(live, next);
    await eventually(async () => (await handshake(port, opts)).fingerprint256 === nextFingerprint, 'new connections to get the replaced certificate');
    const fresh = await handshake(port, opts);
    assert.notEqual(fresh.serialNumber, old.serialNumber);
    assert.match(fresh.subjectaltname, /DNS:rot\.example\.test/);
    assert.equal((await handshake(port, { ca })).fingerprint256, nextFingerprint, 'clients without SNI get the new certificate too');
    assert.ok(messages(gw.logs, 'TLS certificates loaded').length >= 1, 'the reload is logged');
    assert.equal(messages(gw.logs, REFUSED).length, 0);

    const second = await keepAlive.request({ path: '/_sim/echo', method: 'GET', headers: { host: 'rot.example.test' } });
    assert.equal(second.statusCode, 200);
    await second.body.dump();
    assert.equal(connections, 1, 'the second request used the connection opened before the rotation');
  } finally {
    await keepAlive.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('with watch: false, a reload (config unchanged, files changed) installs the new certificate', async () => {
  const live = pki.issue('reload', ['reload.example.test']);
  const next = pki.issue('reload-next', ['reload.example.test']);
  const sims = await startSims(1);
  const dir = mkdtempSync(join(tmpdir(), 'airgate-tls-reload-'));
  const file = join(dir, 'airgate.yaml');
  writeFileSync(file, basicYaml(sims, { listener: tlsBlock([live], ['watch: false']) }));
  const logs = new LogCapture();
  const gateway = new Gateway(loadConfigFile(file), { configFile: file, logger: pino({ level: 'debug' }, logs) });
  await gateway.start();
  const opts: ConnectionOptions = { servername: 'reload.example.test', ca };
  try {
    const port = gateway.port();
    const old = await handshake(port, opts);
    assert.equal(old.fingerprint256, fingerprintOf(live.cert));
    replacePair(live, next);
    // Nothing watches the files: until the reload, the certificate in memory is served.
    assert.equal((await handshake(port, opts)).fingerprint256, old.fingerprint256);

    const result = await gateway.reload();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(gateway.port(), port, 'the listener kept its socket');
    const fresh = await handshake(port, opts);
    assert.equal(fresh.fingerprint256, fingerprintOf(next.cert));
    assert.equal((await handshake(port, { ca })).fingerprint256, fresh.fingerprint256, 'clients without SNI get the new certificate too');
    assert.notEqual(fresh.serialNumber, old.serialNumber);
    const agent = new Agent({ connect: opts });
    try {
      const res = await request(`https://127.0.0.1:${port}/_sim/echo`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await agent.close();
    }
  } finally {
    await gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken replacement is refused and logged with the file; the previous certificate stays in service', async () => {
  const live = pki.issue('broken', ['broken.example.test']);
  const other = pki.issue('broken-other', ['broken.example.test']);
  const good = pki.issue('broken-good', ['broken.example.test']);
  const sims = await startSims(1);
  const gw = await startGateway(basicYaml(sims, { listener: tlsBlock([live]) }));
  const port = gw.gateway.port();
  const opts: ConnectionOptions = { servername: 'broken.example.test', ca };
  try {
    const original = fingerprintOf(live.cert);
    assert.equal((await handshake(port, opts)).fingerprint256, original);

    // A key that does not belong to the certificate.
    replaceFile(live.key, readFileSync(other.key));
    await waitFor(() => messages(gw.logs, REFUSED).length >= 1, 'the mismatched key to be refused');
    const mismatch = messages(gw.logs, REFUSED)[0]!;
    assert.equal(mismatch.level, 50, 'logged as an error');
    assert.equal(typeof mismatch.reason, 'string');
    assert.ok((mismatch.reason as string).includes(live.key), `the reason names the key file: ${String(mismatch.reason)}`);
    assert.equal((await handshake(port, opts)).fingerprint256, original, 'the previous certificate is still served');

    // Garbage instead of a certificate.
    replaceFile(live.cert, 'this is not a certificate\n');
    await waitFor(() => messages(gw.logs, REFUSED).length >= 2, 'the garbage certificate to be refused');
    const garbage = messages(gw.logs, REFUSED)[1]!;
    assert.ok((garbage.reason as string).includes(live.cert), `the reason names the certificate file: ${String(garbage.reason)}`);
    assert.match(garbage.reason as string, /not a PEM certificate/);
    assert.equal((await handshake(port, opts)).fingerprint256, original, 'the previous certificate is still served');
    assert.equal((await handshake(port, { ca })).fingerprint256, original, 'also to clients without SNI');
    const agent = new Agent({ connect: opts });
    try {
      const res = await request(`https://127.0.0.1:${port}/_sim/echo`, { dispatcher: agent });
      assert.equal(res.statusCode, 200, 'the listener keeps answering');
      await res.body.dump();
    } finally {
      await agent.close();
    }

    // A correct pair afterwards is taken.
    replacePair(live, good);
    const goodFingerprint = fingerprintOf(good.cert);
    await eventually(async () => (await handshake(port, opts)).fingerprint256 === goodFingerprint, 'the repaired certificate to be served');
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('min_version: clients below it fail the handshake; TLS 1.2 and 1.3 clients connect', async () => {
  const a = pki.issue('minver', ['minver.example.test']);
  const sims = await startSims(1);
  const v12 = await startGateway(basicYaml(sims, { listener: tlsBlock([a]) })); // default min_version: TLSv1.2
  const v13 = await startGateway(basicYaml(sims, { listener: tlsBlock([a], ['min_version: TLSv1.3']) }));
  // A plain node TLS server that accepts TLS 1.1 tells whether this OpenSSL lets the client speak it at all.
  const control = createTlsServer({ cert: pki.read(a.cert), key: pki.read(a.key), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
  control.listen(0, '127.0.0.1');
  await once(control, 'listening');
  const base: ConnectionOptions = { servername: 'minver.example.test', ca };
  // SECLEVEL=0 so that the client itself is willing to offer TLS 1.1 (OpenSSL 3 refuses it at level 1).
  const tls11: ConnectionOptions = { ...base, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
  try {
    const controlPort = (control.address() as { port: number }).port;
    const clientSpeaks11 = await handshake(controlPort, tls11).then(
      (h) => h.protocol === 'TLSv1.1',
      () => false,
    );
    if (clientSpeaks11) {
      // The client can do TLS 1.1 (proved against the control server), so the refusal is the gateway's:
      // the server answers the ClientHello with a protocol_version alert.
      await assert.rejects(handshake(v12.gateway.port(), tls11), (err: NodeJS.ErrnoException) => {
        assert.match(String(err.code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/, `unexpected error ${err.code}: ${err.message}`);
        return true;
      });
    } else {
      // This OpenSSL refuses TLS 1.1 on the client side for its own reasons, so a TLS 1.1 client
      // cannot show anything about the gateway; min_version is shown with TLSv1.3 below instead.
      await assert.rejects(handshake(v12.gateway.port(), tls11));
    }
    const only12 = await handshake(v12.gateway.port(), { ...base, maxVersion: 'TLSv1.2' });
    assert.equal(only12.protocol, 'TLSv1.2');
    const modern = await handshake(v12.gateway.port(), base);
    assert.equal(modern.protocol, 'TLSv1.3');

    // min_version: TLSv1.3 refuses a client limited to TLS 1.2 (a version both sides could otherwise speak).
    await assert.rejects(handshake(v13.gateway.port(), { ...base, maxVersion: 'TLSv1.2' }), (err: NodeJS.ErrnoException) => {
      assert.match(String(err.code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/, `unexpected error ${err.code}: ${err.message}`);
      return true;
    });
    assert.equal((await handshake(v13.gateway.port(), base)).protocol, 'TLSv1.3');
  } finally {
    control.close();
    await v12.gateway.stop(0);
    await v13.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('redirect_to_https: GET gets 301 and POST 308 to the same host, path and query on the HTTPS port', async () => {
  const sims = await startSims(1);
  const gw = await startGateway(basicYaml(sims, { listener: '    redirect_to_https: 8443' }));
  const agent = new Agent();
  try {
    const get = await request(`${gw.url}/home?x=1`, { dispatcher: agent, headers: { host: 'airflow.example.test:8080' } });
    assert.equal(get.statusCode, 301);
    assert.equal(get.headers.location, 'https://airflow.example.test:8443/home?x=1');
    assert.equal(typeof get.headers['x-request-id'], 'string');
    await get.body.dump();

    const post = await request(`${gw.url}/api/v1/dags/demo/dagRuns`, { dispatcher: agent, method: 'POST', headers: { host: 'airflow.example.test', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.statusCode, 308, 'a non-GET keeps its method and body on the redirect');
    assert.equal(post.headers.location, 'https://airflow.example.test:8443/api/v1/dags/demo/dagRuns');
    await post.body.dump();
    assert.equal(sims[0]!.requests, 0, 'nothing was forwarded over plain HTTP');
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

/** A sim serving HTTPS and a gateway in front of it with the given backend `tls:` block; one GET through. */
async function throughHttpsSim(simTls: { requestCert?: boolean }, backendTls: string | undefined): Promise<{ status: number; error: string | undefined; node: string | undefined; logs: LogCapture }> {
  const serverCert = pki.issue(`sim-${Math.random().toString(36).slice(2)}`, ['sim.example.test']);
  const sim = await new SimulatedAirflow({ name: 'web-1', tls: { cert: pki.read(serverCert.cert), key: pki.read(serverCert.key), ca: simTls.requestCert ? ca : undefined, requestCert: simTls.requestCert } }).start();
  assert.match(sim.url, /^https:\/\//);
  const backend = ['    health: { enabled: false }', '    retries: { attempts: 0 }', ...(backendTls ? [`    tls: ${backendTls}`] : [])].join('\n');
  const gw = await startGateway(basicYaml([sim], { backend }));
  const agent = new Agent();
  try {
    const res = await request(`${gw.url}/_sim/echo`, { dispatcher: agent });
    await res.body.dump();
    return { status: res.statusCode, error: res.headers['x-airgate-error'] as string | undefined, node: res.headers['x-sim-node'] as string | undefined, logs: gw.logs };
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await sim.stop();
  }
}

test('upstream TLS: verified with the configured CA → 200', async () => {
  const r = await throughHttpsSim({}, `{ ca: ${pki.caCert} }`);
  assert.equal(r.status, 200);
  assert.equal(r.node, 'web-1');
});

test('upstream TLS: a server certificate the system CAs do not know → 502, the log names the certificate error', async () => {
  const r = await throughHttpsSim({}, undefined);
  assert.equal(r.status, 502);
  assert.match(String(r.error), /^AIRGATE_ERR_UPSTREAM_/);
  const failed = messages(r.logs, 'upstream request failed');
  assert.equal(failed.length, 1);
  assert.match(String(failed[0]!.cause), /CERT|ISSUER|SELF_SIGNED|UNABLE_TO_VERIFY/, `cause: ${String(failed[0]!.cause)}`);
  assert.equal(failed[0]!.server, 'airflow/web-1');
});

test('upstream TLS: verify: false → 200 without a CA', async () => {
  const r = await throughHttpsSim({}, '{ verify: false }');
  assert.equal(r.status, 200);
  assert.equal(r.node, 'web-1');
});

test('upstream mTLS: without a client certificate the request fails (502); with one it passes', async () => {
  const without = await throughHttpsSim({ requestCert: true }, `{ ca: ${pki.caCert} }`);
  assert.equal(without.status, 502);
  assert.match(String(without.error), /^AIRGATE_ERR_UPSTREAM_/);
  assert.equal(messages(without.logs, 'upstream request failed').length, 1);

  const clientCert = pki.issue('gateway-client', ['airgate.example.test'], { clientAuth: true });
  const withCert = await throughHttpsSim({ requestCert: true }, `{ ca: ${pki.caCert}, cert: ${clientCert.cert}, key: ${clientCert.key} }`);
  assert.equal(withCert.status, 200);
  assert.equal(withCert.node, 'web-1');
});

test('a missing certificate file fails validation naming the key path', () => {
  const a = pki.issue('missing', ['missing.example.test']);
  const missing = join(pki.dir, 'does-not-exist.pem');
  const yaml = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: ${missing}, key: ${a.key} }
backends:
  airflow:
    servers:
      - { name: web-1, url: http://127.0.0.1:9 }
routes:
  - { path: /, backend: airflow }
`;
  assert.throws(
    () => loadConfigText(yaml, 'airgate.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.includes(`listeners[0].tls.certificates[0].cert: cannot read ${missing}`), err.message);
      assert.equal(err.issues.length, 1, err.message);
      assert.ok(!err.message.includes('certificates[0].key'), 'the readable key is not reported');
      return true;
    },
  );
  // The same pair with the real certificate loads.
  assert.doesNotThrow(() => loadConfigText(yaml.replace(missing, a.cert), 'airgate.yaml'));
  copyFileSync(a.cert, missing);
  assert.doesNotThrow(() => loadConfigText(yaml, 'airgate.yaml'));
});
