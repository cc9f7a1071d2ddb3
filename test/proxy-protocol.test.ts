import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { parseProxyHeader } from '../src/server/proxy-protocol.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { pino } from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { Gateway } from '../src/server/gateway.js';
import type { Destination } from '../src/observability/destination.js';
import { basicYaml, client, LogCapture, startGateway, startSims } from './helpers/gateway.js';
import { headerOf, rawExchange, statusOf } from './helpers/raw.js';
import { TestPki } from './helpers/certs.js';
import { waitFor } from './helpers/wait.js';

type Echo = { headers: Record<string, string | string[]>; url: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** PROXY v2, PROXY command, TCP over IPv4. */
function proxyV2Inet(src: [number, number, number, number], dst: [number, number, number, number], srcPort: number, dstPort: number): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11]), u16(12), Buffer.from(src), Buffer.from(dst), u16(srcPort), u16(dstPort)]);
}

/** PROXY v2, PROXY command, TCP over IPv6 (addresses as eight 16-bit groups). */
function proxyV2Inet6(src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const addr = (groups: number[]) => Buffer.concat(groups.map(u16));
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21]), u16(36), addr(src), addr(dst), u16(srcPort), u16(dstPort)]);
}

/** PROXY v2, LOCAL command (the balancer's own health check): no addresses. */
function proxyV2Local(): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00]), u16(0)]);
}

function httpGet(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: airflow.example.test\r\n${extra}Connection: close\r\n\r\n`;
}

function bodyOf(raw: string): Echo {
  const head = raw.indexOf('\r\n\r\n');
  assert.ok(head > 0, `no HTTP response: ${JSON.stringify(raw)}`);
  let body = raw.slice(head + 4);
  if (/chunked/i.test(headerOf(raw, 'transfer-encoding') ?? '')) {
    let out = '';
    for (;;) {
      const eol = body.indexOf('\r\n');
      const size = parseInt(body.slice(0, eol), 16);
      if (!size) break;
      out += body.slice(eol + 2, eol + 2 + size);
      body = body.slice(eol + 2 + size + 2);
    }
    body = out;
  }
  return JSON.parse(body) as Echo;
}

function logged(logs: LogCapture, msg: string): Record<string, unknown>[] {
  return logs.lines.filter((l) => l.msg === msg);
}

/** A gateway whose access log (one line per request, with the client address) is captured too. */
async function startWithAccessLog(yaml: string): Promise<{ gateway: Gateway; logs: LogCapture; access: LogCapture }> {
  const logs = new LogCapture();
  const access = new LogCapture();
  const gateway = new Gateway(loadConfigText(yaml, 'test.yaml'), { logger: pino({ level: 'debug' }, logs), observer: { accessDestination: access as unknown as Destination, auditDestination: new LogCapture() as unknown as Destination } });
  await gateway.start();
  return { gateway, logs, access };
}

/** The access-log client of the request that got `requestId`. */
async function accessClient(access: LogCapture, requestId: string | undefined): Promise<unknown> {
  assert.ok(requestId, 'the answer has an x-request-id');
  await waitFor(() => access.lines.some((l) => l.request_id === requestId), `the access line of ${requestId}`);
  return access.lines.find((l) => l.request_id === requestId)!.client;
}

let sims: SimulatedAirflow[];
let pki: TestPki;

before(async () => {
  sims = await startSims(1);
  pki = new TestPki();
});
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
  pki.cleanup();
});

const PROXIED = { listener: '    proxy_protocol: true', backend: '    health: { enabled: false }', top: 'trusted_proxies: [127.0.0.0/8]' };

test('PROXY v1, v2 (IPv4), v2 (IPv6) and v2 LOCAL from a trusted balancer: the address it names is the client', async () => {
  const gw = await startWithAccessLog(basicYaml(sims, PROXIED));
  try {
    const port = gw.gateway.port();
    const cases: [string, Buffer, string][] = [
      ['v1', Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n'), '203.0.113.7'],
      ['v1 IPv6', Buffer.from('PROXY TCP6 2001:db8::9 ::1 5555 443\r\n'), '2001:db8::9'],
      ['v2 IPv4', proxyV2Inet([203, 0, 113, 7], [127, 0, 0, 1], 5555, 80), '203.0.113.7'],
      ['v2 IPv6', proxyV2Inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0, 0, 0, 0, 0, 0, 0, 1], 5555, 80), '2001:db8::7'],
      // LOCAL: the balancer speaks for itself, so the connection's own address is the client.
      ['v2 LOCAL', proxyV2Local(), '127.0.0.1'],
    ];
    for (const [name, header, client] of cases) {
      const raw = await rawExchange(port, Buffer.concat([header, Buffer.from(httpGet('/_sim/echo', 'X-Forwarded-For: 192.0.2.66\r\n'))]));
      assert.equal(statusOf(raw), 200, `${name}: ${raw.slice(0, 200)}`);
      const echo = bodyOf(raw);
      assert.equal(echo.headers['x-forwarded-for'], client === '127.0.0.1' ? '192.0.2.66, 127.0.0.1' : client, `${name}: X-Forwarded-For`);
      // The access log names the real client: the PROXY source, or for LOCAL what the trusted balancer's X-Forwarded-For says.
      assert.equal(await accessClient(gw.access, headerOf(raw, 'x-request-id')), client === '127.0.0.1' ? '192.0.2.66' : client, `${name}: access log client`);
    }
    assert.equal(logged(gw.logs, 'bad PROXY protocol header').length, 0);
  } finally {
    await gw.gateway.stop(0);
  }
});

test('PROXY protocol: every request of a keep-alive connection carries the address from its header', async () => {
  const gw = await startGateway(basicYaml(sims, PROXIED));
  try {
    const first = `GET /_sim/echo?n=1 HTTP/1.1\r\nHost: airflow.example.test\r\n\r\n`;
    const raw = await rawExchange(gw.gateway.port(), Buffer.concat([Buffer.from('PROXY TCP4 198.51.100.23 127.0.0.1 40000 80\r\n'), Buffer.from(first), Buffer.from(httpGet('/_sim/echo?n=2'))]));
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 2, raw);
    for (const [i, answer] of answers.entries()) {
      assert.equal(statusOf(answer), 200);
      const echo = bodyOf(answer);
      assert.equal(echo.url, `/_sim/echo?n=${i + 1}`);
      assert.equal(echo.headers['x-forwarded-for'], '198.51.100.23');
    }
  } finally {
    await gw.gateway.stop(0);
  }
});

test('PROXY protocol in front of TLS and HTTP/2 listeners: the header comes before the handshake, its source is the client', async () => {
  const pair = pki.issue('proxied-tls', ['proxied.example.test']);
  const ca = pki.read(pki.caCert);
  const gw = await startWithAccessLog(basicYaml(sims, { ...PROXIED, listener: `    proxy_protocol: true\n    http2: true\n    tls:\n      certificates:\n        - { cert: ${pair.cert}, key: ${pair.key} }` }));
  const port = gw.gateway.port();
  /** A TCP connection that sends the PROXY header, then speaks TLS on it. */
  const proxiedTcp = async (source: string) => {
    const tcp = connect(port, '127.0.0.1');
    await once(tcp, 'connect');
    tcp.write(`PROXY TCP4 ${source} 127.0.0.1 5555 443\r\n`);
    return tcp;
  };
  let session: ClientHttp2Session | undefined;
  try {
    // HTTPS (HTTP/1.1). The client also sends its own X-Forwarded-For: the balancer passes it along
    // untouched, and it must not be believed, since the PROXY source is not a trusted proxy.
    const tcp = await proxiedTcp('203.0.113.99');
    const raw = await new Promise<string>((resolve, reject) => {
      const tls = tlsConnect({ socket: tcp, servername: 'proxied.example.test', ca, ALPNProtocols: ['http/1.1'] }, () => tls.write(httpGet('/_sim/echo', 'X-Forwarded-For: 6.6.6.6\r\n')));
      const chunks: Buffer[] = [];
      tls.on('data', (c: Buffer) => chunks.push(c));
      tls.on('error', reject);
      tls.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    assert.equal(statusOf(raw), 200, raw.slice(0, 300));
    const echo = bodyOf(raw);
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.99');
    assert.equal(await accessClient(gw.access, headerOf(raw, 'x-request-id')), '203.0.113.99');

    // HTTP/2 on a proxied connection.
    const tcp2 = await proxiedTcp('203.0.113.100');
    session = h2connect(`https://127.0.0.1:${port}`, { createConnection: () => tlsConnect({ socket: tcp2, servername: 'proxied.example.test', ca, ALPNProtocols: ['h2'] }) });
    session.on('error', () => undefined);
    const stream = session.request({ ':path': '/_sim/echo', 'x-forwarded-for': '6.6.6.6' });
    const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    let body = '';
    for await (const chunk of stream) body += String(chunk);
    const echo2 = JSON.parse(body) as Echo;
    assert.equal(echo2.headers['x-forwarded-proto'], 'https');
    assert.equal(echo2.headers['x-forwarded-for'], '203.0.113.100');
    assert.equal(await accessClient(gw.access, headers['x-request-id'] as string), '203.0.113.100');
  } finally {
    session?.destroy();
    await gw.gateway.stop(0);
  }
});

test('a PROXY header from an address outside trusted_proxies: connection closed unanswered, logged', async () => {
  const gw = await startGateway(basicYaml(sims, { ...PROXIED, top: 'trusted_proxies: [10.0.0.0/8]' }));
  try {
    const before = sims[0]!.requests;
    const raw = await rawExchange(gw.gateway.port(), Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n'), Buffer.from(httpGet('/_sim/echo'))]));
    assert.equal(raw, '', 'not a byte of answer');
    await waitFor(() => logged(gw.logs, 'PROXY protocol connection from an untrusted address refused').length === 1, 'the refusal to be logged');
    const line = logged(gw.logs, 'PROXY protocol connection from an untrusted address refused')[0]!;
    assert.equal(line.peer, '127.0.0.1');
    assert.equal(line.listener, 'public');
    assert.equal(sims[0]!.requests, before, 'nothing was forwarded');
  } finally {
    await gw.gateway.stop(0);
  }
});

test('a missing or malformed PROXY header: connection closed, logged with the reason', async () => {
  const gw = await startGateway(basicYaml(sims, { ...PROXIED, listener: '    proxy_protocol: true\n    timeouts: { client_header: 300ms }' }));
  try {
    const port = gw.gateway.port();
    const before = sims[0]!.requests;
    const bad: [string, Buffer | string, RegExp][] = [
      ['plain HTTP', httpGet('/_sim/echo'), /missing PROXY header/],
      ['v1 without addresses', 'PROXY TCP4 203.0.113.7\r\n' + httpGet('/_sim/echo'), /malformed PROXY v1 header/],
      ['v1 with a bad address', 'PROXY TCP4 203.0.113.7,10.0.0.1 127.0.0.1 5555 80\r\n' + httpGet('/_sim/echo'), /malformed PROXY v1 header/],
      ['v2 with a bad signature', Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x00]), Buffer.alloc(20)]), /bad PROXY v2 signature/],
    ];
    for (const [i, [name, payload, reason]] of bad.entries()) {
      const raw = await rawExchange(port, payload);
      assert.equal(raw, '', `${name}: no answer`);
      await waitFor(() => logged(gw.logs, 'bad PROXY protocol header').length === i + 1, `${name} to be logged`);
      const line = logged(gw.logs, 'bad PROXY protocol header')[i]!;
      assert.match(String(line.reason), reason, name);
      assert.equal(line.peer, '127.0.0.1');
    }
    // A connection that never sends its header is dropped after client_header.
    const silent = await rawExchange(port, Buffer.alloc(0));
    assert.equal(silent, '');
    await waitFor(() => logged(gw.logs, 'bad PROXY protocol header').length === bad.length + 1, 'the silent connection to be logged');
    assert.match(String(logged(gw.logs, 'bad PROXY protocol header')[bad.length]!.reason), /no PROXY header in time/);
    assert.equal(sims[0]!.requests, before, 'nothing was forwarded');
  } finally {
    await gw.gateway.stop(0);
  }
});

test('parseProxyHeader: partial input waits, UNKNOWN and LOCAL carry no source, garbage throws', () => {
  const line = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\n');
  const v2 = proxyV2Inet([203, 0, 113, 7], [127, 0, 0, 1], 5555, 80);
  // Partial headers: more bytes are needed.
  for (const n of [1, 3, 6, 20, 41]) assert.equal(parseProxyHeader(line.subarray(0, n)), undefined, `v1, first ${n} bytes`);
  for (const n of [1, 5, 12, 15, 16, 27]) assert.equal(parseProxyHeader(v2.subarray(0, n)), undefined, `v2, first ${n} bytes`);

  const v1 = parseProxyHeader(line)!;
  assert.equal(v1.source, '203.0.113.7');
  assert.equal(v1.rest.toString(), 'GET / HTTP/1.1\r\n');
  const full = parseProxyHeader(Buffer.concat([v2, Buffer.from('GET')]))!;
  assert.equal(full.source, '203.0.113.7');
  assert.equal(full.rest.toString(), 'GET');
  assert.equal(parseProxyHeader(proxyV2Inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2))!.source, '2001:db8::7');
  assert.equal(parseProxyHeader(proxyV2Inet6([0xfd00, 0, 0, 0, 0x1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2))!.source, 'fd00::1:0:0:0');

  const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\nGET'))!;
  assert.equal(unknown.source, undefined);
  assert.equal(unknown.rest.toString(), 'GET');
  const unknownLong = parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'))!;
  assert.equal(unknownLong.source, undefined);
  const local = parseProxyHeader(Buffer.concat([proxyV2Local(), Buffer.from('GET')]))!;
  assert.equal(local.source, undefined);
  assert.equal(local.rest.toString(), 'GET');

  assert.throws(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), /missing PROXY header/);
  assert.throws(() => parseProxyHeader(Buffer.from('HELLO')), /missing PROXY header/);
  assert.throws(() => parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), /missing PROXY header/, 'a v1 line longer than 107 bytes');
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4\r\n')), /malformed PROXY v1 header/);
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')), /malformed PROXY v1 header/);
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n')), /malformed PROXY v1 header/);
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n')), /malformed PROXY v1 header/, 'TCP4 with an IPv6 address');
  assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 127.0.0.1 1 99999\r\n')), /malformed PROXY v1 header/, 'a port above 65535');
  assert.throws(() => parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x00])), /bad PROXY v2 signature/);
  const badVersion = Buffer.from(v2);
  badVersion[12] = 0x11;
  assert.throws(() => parseProxyHeader(badVersion), /unsupported PROXY version/);
  const badCommand = Buffer.from(v2);
  badCommand[12] = 0x22;
  assert.throws(() => parseProxyHeader(badCommand), /unsupported PROXY v2 command/);
  const badFamily = Buffer.from(v2);
  badFamily[13] = 0x31; // AF_UNIX
  assert.throws(() => parseProxyHeader(badFamily), /unsupported PROXY v2 address family/);
});

test('trusted_proxies without PROXY protocol: X-Forwarded-For kept and appended to from a trusted peer, replaced otherwise', async () => {
  const http = client();
  const trusted = await startGateway(basicYaml(sims, { top: 'trusted_proxies: [127.0.0.0/8]', backend: '    health: { enabled: false }' }));
  const untrusted = await startGateway(basicYaml(sims, { backend: '    health: { enabled: false }' }));
  try {
    const headers = { 'x-forwarded-for': '198.51.100.1, 10.9.9.9' };
    const kept = (await (await http.req(`${trusted.url}/_sim/echo`, { headers })).body.json()) as Echo;
    assert.equal(kept.headers['x-forwarded-for'], '198.51.100.1, 10.9.9.9, 127.0.0.1');
    const replaced = (await (await http.req(`${untrusted.url}/_sim/echo`, { headers })).body.json()) as Echo;
    assert.equal(replaced.headers['x-forwarded-for'], '127.0.0.1');
    // Several X-Forwarded-For fields from a trusted peer are one list.
    const multi = (await (await http.req(`${trusted.url}/_sim/echo`, { headers: ['x-forwarded-for', '198.51.100.1', 'x-forwarded-for', '10.9.9.9'] })).body.json()) as Echo;
    assert.equal(multi.headers['x-forwarded-for'], '198.51.100.1, 10.9.9.9, 127.0.0.1');
  } finally {
    await http.close();
    await trusted.gateway.stop(0);
    await untrusted.gateway.stop(0);
  }
});
