import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { basicYaml, startGateway, startSims } from './helpers/gateway.js';
import { TestPki } from './helpers/certs.js';
import { handshake } from './helpers/tls-client.js';
import { freePort } from './helpers/port.js';
import { startPebble } from './helpers/pebble.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import type { Gateway } from '../src/server/gateway.js';
import { acmeChallenges } from '../src/server/tls/acme-challenges.js';

const DOMAIN = 'gw.airgate.test';
let pki: TestPki;

before(() => {
  pki = new TestPki();
});
after(() => pki.cleanup());

/** A plain listener (HTTP-01 answers) and a TLS listener whose certificate comes from ACME. */
function acmeYaml(sims: Awaited<ReturnType<typeof startSims>>, ports: { http: number; tls: number }, acme: string[]): string {
  return basicYaml(sims, {
    listener: [`  - name: secure`, `    address: 127.0.0.1:${ports.tls}`, `    tls:`, `      acme:`, ...acme.map((l) => `        ${l}`)].join('\n'),
  }).replace('address: 127.0.0.1:0', `address: 127.0.0.1:${ports.http}`);
}

function acmeLines(directory: string, extra: string[] = []): string[] {
  return [`directory: ${directory}`, `domains: [${DOMAIN}]`, `contact: [ops@airgate.test]`, `ca: ${pki.caCert}`, 'retry_min: 200ms', 'retry_max: 1s', ...extra];
}

function secure(gw: Gateway) {
  const l = gw.listeners.find((x) => x.config.name === 'secure')!;
  return { certs: l.certs!, port: l.port };
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

test('ACME: a listener starts without a certificate, obtains one from pebble over HTTP-01, serves it, and renews it while requests continue', async () => {
  const ports = { http: await freePort(), tls: await freePort() };
  const pebble = await startPebble(pki, { httpPort: ports.http, tlsPort: ports.tls, validitySeconds: 15 });
  const sims = await startSims(1);
  const storage = mkdtempSync(join(tmpdir(), 'airgate-acme-'));
  const gw = await startGateway(acmeYaml(sims, ports, acmeLines(pebble.directory, [`storage: ${storage}`])));
  const agent = new Agent({ connect: { ca: pebble.root, servername: DOMAIN }, keepAliveTimeout: 100 });
  try {
    const { certs, port } = secure(gw.gateway);
    assert.ok(!readdirSync(storage).some((f) => f.endsWith('.crt')), 'nothing stored: the listener starts without a certificate');
    const answered = acmeChallenges.answered.http01;
    await waitFor(() => certs.certificates.length === 1, 'the first certificate', 30_000);
    assert.ok(acmeChallenges.answered.http01 > answered, 'pebble validated over HTTP-01 against the plain listener');
    const first = certs.certificates[0]!;
    assert.equal(first.source, 'acme');
    assert.deepEqual(first.names, [DOMAIN]);
    // A client that trusts only pebble's root verifies the chain and the name.
    const seen = await handshake(port, { servername: DOMAIN, ca: pebble.root });
    assert.match(seen.subjectaltname, /DNS:gw\.airgate\.test/);
    const res = await request(`https://127.0.0.1:${port}/_sim/echo`, { dispatcher: agent, headers: { host: DOMAIN } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(readdirSync(storage).includes(`${DOMAIN}.crt`), 'the certificate is kept in the storage directory');
    assert.ok(
      gw.logs.lines.some((l) => l.msg === 'ACME certificate obtained'),
      'ordered from the CA',
    );
    assert.ok(!gw.logs.lines.some((l) => l.msg === 'ACME certificate loaded from storage'), 'not found in storage');

    // Requests keep flowing (new connections and keep-alive ones) until a renewed certificate is served.
    const firstFingerprint = seen.fingerprint256;
    let ok = 0;
    const failures: string[] = [];
    let renewedAt = 0;
    while (renewedAt === 0 || ok < renewedAt + 20) {
      try {
        const r = await request(`https://127.0.0.1:${port}/_sim/echo`, { dispatcher: agent, headers: { host: DOMAIN } });
        if (r.statusCode === 200) ok++;
        else failures.push(`status ${r.statusCode}`);
        await r.body.dump();
        const h = await handshake(port, { servername: DOMAIN, ca: pebble.root });
        if (renewedAt === 0 && h.fingerprint256 !== firstFingerprint) renewedAt = ok;
      } catch (err) {
        failures.push((err as Error).message);
      }
      if (failures.length > 0 || ok > 20_000) break;
    }
    const acmeLog = gw.logs.lines.filter((l) => String(l.msg).startsWith('ACME')).map((l) => `${String(l.time)} ${String(l.msg)} ${String(l.reason ?? l.notAfter ?? '')}`);
    assert.deepEqual(failures, [], `no request failed during the renewal (ACME log: ${acmeLog.join(' | ')})`);
    assert.ok(renewedAt > 0, 'a renewed certificate is served');
    const renewed = certs.certificates[0]!;
    assert.ok(renewed.notAfter > first.notAfter);
    assert.ok(certs.acme!.renewals.ok >= 2);
    assert.equal(certs.acme!.renewals.failed, 0);
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    await pebble.stop();
  }
});

test('ACME: TLS-ALPN-01 is answered on the TLS listener itself; ordinary clients still negotiate http/1.1', async () => {
  const ports = { http: await freePort(), tls: await freePort() };
  const pebble = await startPebble(pki, { httpPort: ports.http, tlsPort: ports.tls });
  const sims = await startSims(1);
  const storage = mkdtempSync(join(tmpdir(), 'airgate-acme-'));
  const gw = await startGateway(acmeYaml(sims, ports, acmeLines(pebble.directory, [`storage: ${storage}`, 'challenge: tls-alpn-01'])));
  try {
    const { certs, port } = secure(gw.gateway);
    const before = { ...acmeChallenges.answered };
    await waitFor(() => certs.certificates.length === 1, 'the certificate', 30_000);
    assert.ok(acmeChallenges.answered.tlsAlpn01 > before.tlsAlpn01, 'pebble validated over an acme-tls/1 handshake');
    assert.equal(acmeChallenges.answered.http01, before.http01, 'and not over HTTP-01');
    const seen = await handshake(port, { servername: DOMAIN, ca: pebble.root, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(seen.alpnProtocol, 'http/1.1');
    assert.match(seen.subjectaltname, /DNS:gw\.airgate\.test/);
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    await pebble.stop();
  }
});

test('ACME: External Account Binding: with the CA’s key the account is created; without it the order is refused and retried', async () => {
  const ports = { http: await freePort(), tls: await freePort() };
  const eab = { kid: 'kid-1', hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' };
  const pebble = await startPebble(pki, { httpPort: ports.http, tlsPort: ports.tls, eab });
  const sims = await startSims(1);
  const without = await startGateway(acmeYaml(sims, ports, acmeLines(pebble.directory, [`storage: ${mkdtempSync(join(tmpdir(), 'airgate-acme-'))}`])));
  try {
    const { certs } = secure(without.gateway);
    await waitFor(() => (certs.acme?.renewals.failed ?? 0) >= 1, 'the order without EAB to fail', 30_000);
    assert.equal(certs.certificates.length, 0, 'no certificate without the binding');
    assert.ok(
      without.logs.lines.some((l) => l.msg === 'ACME order failed; the current certificate stays in service' && /externalAccountBinding/.test(String(l.reason))),
      'the CA’s reason is logged',
    );
  } finally {
    await without.gateway.stop(0);
  }
  const withEab = await startGateway(acmeYaml(sims, ports, acmeLines(pebble.directory, [`storage: ${mkdtempSync(join(tmpdir(), 'airgate-acme-'))}`, `eab: { kid: ${eab.kid}, hmac_key: ${eab.hmacKey} }`])));
  try {
    const { certs, port } = secure(withEab.gateway);
    await waitFor(() => certs.certificates.length === 1, 'the certificate with EAB', 30_000);
    assert.match((await handshake(port, { servername: DOMAIN, ca: pebble.root })).subjectaltname, /DNS:gw\.airgate\.test/);
  } finally {
    await withEab.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    await pebble.stop();
  }
});

test('ACME: a failed renewal keeps serving the old certificate, logs and counts', async () => {
  const ports = { http: await freePort(), tls: await freePort() };
  const pebble = await startPebble(pki, { httpPort: ports.http, tlsPort: ports.tls, validitySeconds: 12 });
  const sims = await startSims(1);
  const storage = mkdtempSync(join(tmpdir(), 'airgate-acme-'));
  const gw = await startGateway(acmeYaml(sims, ports, acmeLines(pebble.directory, [`storage: ${storage}`])));
  try {
    const { certs, port } = secure(gw.gateway);
    await waitFor(() => certs.certificates.length === 1, 'the first certificate', 30_000);
    const served = (await handshake(port, { servername: DOMAIN, ca: pebble.root })).fingerprint256;
    assert.equal(served, fingerprint(readFileSync(join(storage, `${DOMAIN}.crt`), 'utf8')));
    await pebble.stop(); // the CA is gone when the renewal comes due (at two thirds of 12 s)
    await waitFor(() => certs.acme!.renewals.failed >= 1, 'a failed renewal', 30_000).catch((err: Error) => {
      throw new Error(
        `${err.message}; log: ${gw.logs.lines
          .filter((l) => l.type !== 'access')
          .map((l) => `${String(l.msg)} ${String(l.reason ?? '')}`)
          .join(' | ')}`,
      );
    });
    const after = await handshake(port, { servername: DOMAIN, ca: pebble.root });
    assert.equal(after.fingerprint256, served, 'the old certificate is still served');
    assert.ok(gw.logs.lines.some((l) => l.msg === 'ACME order failed; the current certificate stays in service' && l.serving === 'the current certificate'));
    const metrics = await gw.gateway.observer.metrics.text();
    assert.match(metrics, /airgate_certificate_renewals_total\{listener="secure",name="gw\.airgate\.test",result="failed"\} [1-9]/);
    assert.match(metrics, /airgate_certificate_expiry_seconds\{listener="secure",name="gw\.airgate\.test"\} \d+/);
  } finally {
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('ACME: two instances sharing Redis order one certificate, and either answers the challenge', async () => {
  const redis = await startRedis();
  const a = { http: await freePort(), tls: await freePort() };
  const b = { http: await freePort(), tls: await freePort() };
  // Validation reaches instance A only; when B holds the lock, A answers B's challenge from Redis.
  const pebble = await startPebble(pki, { httpPort: a.http, tlsPort: a.tls });
  const sims = await startSims(1);
  const lines = acmeLines(pebble.directory, [`redis: ${redis.url}`]);
  const [ga, gb] = await Promise.all([startGateway(acmeYaml(sims, a, lines)), startGateway(acmeYaml(sims, b, lines))]);
  try {
    const ca = secure(ga.gateway);
    const cb = secure(gb.gateway);
    await waitFor(() => ca.certs.certificates.length === 1 && cb.certs.certificates.length === 1, 'both instances to serve a certificate', 30_000);
    const fa = (await handshake(ca.port, { servername: DOMAIN, ca: pebble.root })).fingerprint256;
    const fb = (await handshake(cb.port, { servername: DOMAIN, ca: pebble.root })).fingerprint256;
    assert.equal(fa, fb, 'both serve the same certificate');
    const ordered = [ga, gb].map((g) => g.logs.lines.filter((l) => l.msg === 'ACME certificate obtained').length);
    assert.equal(ordered[0]! + ordered[1]!, 1, 'one order for two instances');
    const other = ordered[0] === 1 ? gb : ga;
    assert.ok(
      other.logs.lines.some((l) => l.msg === 'ACME certificate loaded from storage'),
      'the other instance took the certificate from Redis',
    );
    assert.equal(ca.certs.acme!.renewals.ok + cb.certs.acme!.renewals.ok, 1);
  } finally {
    await ga.gateway.stop(0);
    await gb.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
    await pebble.stop();
    await redis.stop();
  }
});
