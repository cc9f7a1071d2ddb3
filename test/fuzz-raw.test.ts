import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { request } from 'undici';
import { startGateway, type LogCapture } from './helpers/gateway.js';
import { recordingUpstream, tokenIssuer } from './helpers/recording-upstream.js';
import { TestPki } from './helpers/certs.js';
import type { Gateway } from '../src/server/gateway.js';
import { normalizePath } from '../src/policy/normalize.js';

// A raw-socket fuzzer: thousands of mutated HTTP/1.1 requests and HTTP/2 frame sequences, from a
// corpus of Airflow traffic and request-smuggling shapes, against a running gateway with a
// recording upstream. Afterwards: the process serves, every answer was well-formed HTTP or a
// closed connection, no denied request reached the upstream, and the upstream never saw more
// requests than were sent. Deterministic (fixed seeds) and bounded in count.

const HTTP1_CASES = 2000;
const HTTP2_CASES = 300;

let up: Awaited<ReturnType<typeof recordingUpstream>>;
let issuer: Awaited<ReturnType<typeof tokenIssuer>>;
let gw: { gateway: Gateway; url: string; logs: LogCapture };
let pki: TestPki;
let token = '';

before(async () => {
  up = await recordingUpstream();
  issuer = await tokenIssuer();
  token = await issuer.sign({ sub: 'ci-bot', aud: 'airflow-api' });
  pki = new TestPki();
  const leaf = pki.issue('gw', ['localhost']);
  gw = await startGateway(`listeners:
  - { name: plain, address: 127.0.0.1:0, timeouts: { client_header: 2s, client_body_idle: 1s } }
  - name: tls
    address: 127.0.0.1:0
    tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }] }
    http2: true
    timeouts: { client_header: 2s, client_body_idle: 1s, tls_handshake: 2s, http2_idle: 2s }
auth:
  bearer:
    - { issuer: "${issuer.issuer}", jwks_url: "${issuer.jwksUrl}", audiences: [airflow-api] }
backends:
  airflow:
    servers: [{ name: up, url: ${up.url} }]
    health: { enabled: false }
    retries: { attempts: 0 }
routes:
  - { path: /api/v1/, backend: airflow, auth: bearer }
  - { path: /, backend: airflow, policy: true }
policy:
  rules:
    - { name: deny-admin, effect: deny, match: { paths: [/admin] } }
    - { name: deny-team-b, effect: deny, match: { dags: ["team_b_*"] } }
    - { name: allow-rest, effect: allow, match: {} }
logging: { level: warn }
`);
});

after(async () => {
  await gw.gateway.stop(0);
  await up.close();
  await issuer.close();
  pki.cleanup();
});

/** Airflow views that read `dag_id` from the query or form (the ones in the corpus). */
const PARAM_VIEWS = new Set(['/paused', '/graph', '/clear', '/grid']);

/**
 * Whether an upstream request should have been refused — the invariant, written from what
 * Airflow would do with it (its routes are case-sensitive; werkzeug decodes parameter names).
 */
function forbidden(method: string, url: string, verifiedUser: unknown, body: Buffer): string | undefined {
  const n = normalizePath(url);
  if (!n.ok) return `an unnormalized target ${url}`;
  const path = n.path.toLowerCase();
  if (path === '/admin' || path.startsWith('/admin/')) return `a denied path ${url}`;
  // Airflow's routes that name a DAG in the path: /dags/{id}/… (UI) and /api/v1|v2/dags/{id}/… (REST); werkzeug decodes the id.
  const dagPath = /^\/(?:api\/v[12]\/)?dags\/([^/]+)/.exec(n.path);
  if (dagPath && decodeURIComponentSafe(dagPath[1]!).startsWith('team_b_')) return `a denied DAG in the path ${url}`;
  const view = n.path.replace(/\/$/, '');
  if (PARAM_VIEWS.has(view)) {
    const params = [...new URLSearchParams(n.query.slice(1)), ...new URLSearchParams(body.toString('latin1'))];
    if (params.some(([k, v]) => (k === 'dag_id' || k === 'dag_ids') && v.startsWith('team_b_'))) return `a denied DAG in the parameters ${url}`;
  }
  // The bearer route: Airflow must only ever see requests airgate verified (it hands over the identity, not the token).
  if (n.path.startsWith('/api/v1/') && verifiedUser !== 'ci-bot') return `an unauthenticated API call ${method} ${url}`;
  return undefined;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function corpus(): string[] {
  const h = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
  const form = 'dag_id=team_b_x&confirmed=true';
  return [
    h(['GET /home HTTP/1.1', 'Host: airflow.example', 'Accept: text/html']),
    h(['GET /dags/team_a_x/grid?root= HTTP/1.1', 'Host: a', 'Cookie: session=abc']),
    h(['GET /dags/team_b_x/grid HTTP/1.1', 'Host: a']),
    h(['GET /admin/users HTTP/1.1', 'Host: a']),
    h(['GET /api/v1/connections HTTP/1.1', 'Host: a']),
    h(['GET /api/v1/dags HTTP/1.1', 'Host: a', `Authorization: Bearer ${token}`]),
    h(['POST /api/v1/dags/team_a_x/dagRuns HTTP/1.1', 'Host: a', `Authorization: Bearer ${token}`, 'Content-Type: application/json', 'Content-Length: 27'], '{"conf":{},"note":"fuzzed"}'),
    h(['POST /clear HTTP/1.1', 'Host: a', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${form.length}`], form),
    h(['POST /paused?dag_id=team_b_x&is_paused=true HTTP/1.1', 'Host: a', 'Content-Length: 0']),
    h(['POST /login/ HTTP/1.1', 'Host: a', 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked'], '13\r\nusername=x&password\r\n0\r\n\r\n'),
    h(['GET /_airgate/health HTTP/1.1', 'Host: a']),
    h(['GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']),
    h(['GET /api/v1/variables HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__']),
    // Smuggling shapes.
    h(['POST /home HTTP/1.1', 'Host: a', 'Content-Length: 6', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n'),
    h(['POST /home HTTP/1.1', 'Host: a', 'Content-Length: 4', 'Content-Length: 40'], 'abcd'),
    h(['POST /home HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, identity'], '0\r\n\r\n'),
    h(['POST /home HTTP/1.1', 'Host: a', 'Transfer-Encoding : chunked'], '0\r\n\r\n'),
    h(['POST /home HTTP/1.1', 'Host: a', 'Transfer-Encoding: xchunked'], '0\r\n\r\n'),
    h(['GET /home HTTP/1.1', 'Host: a', ' X-Folded: y']),
    'GET /home HTTP/1.1\nHost: a\n\nGET /admin HTTP/1.1\nHost: a\n\n',
    h(['GET /home HTTP/1.1', 'Host: a'], h(['GET /admin HTTP/1.1', 'Host: a'])),
    h(['GET http://a/dags/team_b_x/grid HTTP/1.1', 'Host: a']),
    h(['GET /dags/team%5Fb%5Fx/grid HTTP/1.1', 'Host: a']),
    h(['GET /%61dmin HTTP/1.1', 'Host: a']),
    h(['GET /x/../admin HTTP/1.1', 'Host: a']),
    h(['GET /api/v1/../v1/connections HTTP/1.1', 'Host: a']),
    h(['GET //api/v1/connections HTTP/1.1', 'Host: a']),
    h(['GET /graph?dag%5Fid=team_b_x HTTP/1.1', 'Host: a']),
    h(['GET /health HTTP/2.0', 'Host: a']),
    h(['GET /dags/%FF/grid HTTP/1.1', 'Host: a']),
    h(['GET /home# HTTP/1.1', 'Host: a']),
  ];
}

/** Upstream requests one payload may cause at most: one per request line in it. */
function requestLines(payload: Buffer): number {
  return (payload.toString('latin1').match(/[A-Z]+ \S+ HTTP\/\d\.\d/g) ?? []).length;
}

function mutate(seed: Buffer, ops: { kind: number; at: number; byte: number; len: number }[]): Buffer {
  let b = Buffer.from(seed);
  for (const op of ops) {
    const at = b.length === 0 ? 0 : op.at % b.length;
    switch (op.kind % 6) {
      case 0: // flip a byte
        if (b.length) b[at] = op.byte;
        break;
      case 1: // insert interesting bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.from([[0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x25, 0x23, 0x2f, 0x2e, 0x5f, 0xff][op.byte % 12]!]), b.subarray(at)]);
        break;
      case 2: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + (op.len % 8))]);
        break;
      case 3: // duplicate a run (duplicate headers, lines)
        b = Buffer.concat([b.subarray(0, at + (op.len % 40)), b.subarray(at, at + (op.len % 40)), b.subarray(at + (op.len % 40))]);
        break;
      case 4: // truncate
        b = b.subarray(0, Math.max(1, at));
        break;
      case 5: // change case
        if (b.length) b[at] = b[at]! >= 0x61 && b[at]! <= 0x7a ? b[at]! - 32 : b[at]! >= 0x41 && b[at]! <= 0x5a ? b[at]! + 32 : b[at]!;
        break;
    }
  }
  return b;
}

/**
 * Send one payload in `splits` pieces and read until the server closes or goes quiet. `halfClose`:
 * end the sending side after the payload (a keep-alive request then counts as abandoned); without
 * it, wait a little for an answer to what was sent.
 */
function exchange(port: number, payload: Buffer, splits: number[], halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(quiet);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(quiet);
      quiet = setTimeout(finish, 150);
    });
    s.on('error', finish);
    s.on('close', finish);
    s.on('connect', () => {
      let at = 0;
      for (const n of splits) {
        const end = Math.min(payload.length, at + n);
        if (end > at) s.write(payload.subarray(at, end));
        at = end;
      }
      if (halfClose) s.end(payload.subarray(at));
      else s.write(payload.subarray(at));
      quiet = setTimeout(finish, halfClose ? 2500 : 300);
    });
  });
}

test(`HTTP/1.1 fuzzing: ${HTTP1_CASES} mutated requests; no crash, no bypass, well-formed answers`, { timeout: 300_000 }, async () => {
  const port = gw.gateway.port('plain');
  const seeds = corpus().map((c) => Buffer.from(c, 'latin1'));
  const op = fc.record({ kind: fc.nat(5), at: fc.nat(4000), byte: fc.nat(255), len: fc.nat(200) });
  const samples = fc.sample(fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 3 })), { numRuns: HTTP1_CASES, seed: 424242 });
  let sent = 0;
  const before = up.seen.length;
  const answers = new Map<string, number>();
  let n = 0;
  for (const [i, ops, splits] of samples) {
    const payload = mutate(seeds[i]!, ops);
    sent += requestLines(payload);
    const out = await exchange(port, payload, splits, n++ % 2 === 0);
    if (out.length > 0) assert.match(out, /^HTTP\/1\.1 [1-5]\d\d [^\r\n]*\r\n/, `a malformed answer to ${JSON.stringify(payload.toString('latin1').slice(0, 200))}`);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 'closed';
    answers.set(status, (answers.get(status) ?? 0) + 1);
  }
  const received = up.seen.slice(before);
  for (const s of received) {
    const why = forbidden(s.method, s.url, s.headers['x-auth-user'], s.body);
    assert.equal(why, undefined, `the upstream received ${why}`);
  }
  assert.ok(received.length <= sent, `the upstream saw ${received.length} requests for ${sent} sent`);
  assert.equal(gw.logs.lines.filter((l) => l.msg === 'internal error while handling a request; answered 500').length, 0, 'no internal errors');
  const health = await request(`${gw.url}/_airgate/health`);
  assert.equal(health.statusCode, 200, 'still serving');
  await health.body.dump();
  console.log(JSON.stringify({ fuzz: 'http1', cases: HTTP1_CASES, requestLines: sent, reachedUpstream: received.length, crashes: 0, bypasses: 0, answers: Object.fromEntries(answers) }));
});

// --- HTTP/2: frames built by hand (HPACK literals without indexing), then mutated ---------------

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function headerBlock(headers: [string, string][]): Buffer {
  const bytes: number[] = [];
  for (const [n, v] of headers) {
    const name = Buffer.from(n, 'latin1');
    const value = Buffer.from(v, 'latin1');
    bytes.push(0x00, ...hpackInt(name.length, 7, 0), ...name, ...hpackInt(value.length, 7, 0), ...value);
  }
  return Buffer.from(bytes);
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function h2Seeds(): Buffer[] {
  const req = (path: string, extra: [string, string][] = [], method = 'GET') => headerBlock([[':method', method], [':scheme', 'https'], [':authority', 'localhost'], [':path', path], ...extra]);
  const settings = frame(0x4, 0, 0, Buffer.alloc(0));
  const seq = (...frames: Buffer[]) => Buffer.concat([PREFACE, settings, ...frames]);
  return [
    seq(frame(0x1, 0x5, 1, req('/home'))),
    seq(frame(0x1, 0x5, 1, req('/admin/x'))),
    seq(frame(0x1, 0x5, 1, req('/dags/team_b_x/grid'))),
    seq(frame(0x1, 0x5, 1, req('/api/v1/connections'))),
    seq(frame(0x1, 0x5, 1, req('/api/v1/dags', [['authorization', `Bearer ${token}`]]))),
    seq(frame(0x1, 0x4, 1, req('/clear', [['content-type', 'application/x-www-form-urlencoded']], 'POST')), frame(0x0, 0x1, 1, Buffer.from('dag_id=team_b_x'))),
    seq(
      frame(
        0x1,
        0x5,
        1,
        req('/home', [
          ['x_auth_user', 'admin'],
          ['x-auth-user', 'admin'],
        ]),
      ),
    ),
    seq(frame(0x1, 0x1, 1, req('/home').subarray(0, 20)), frame(0x9, 0x4, 1, req('/home').subarray(20))),
    seq(frame(0x1, 0x5, 1, req('/home')), frame(0x3, 0, 1, Buffer.from([0, 0, 0, 8])), frame(0x1, 0x5, 3, req('/admin'))),
    seq(
      frame(
        0x1,
        0x5,
        1,
        req('/home', [
          ['connection', 'upgrade'],
          ['upgrade', 'websocket'],
        ]),
      ),
    ),
    seq(frame(0x6, 0, 0, Buffer.alloc(8)), frame(0x8, 0, 0, Buffer.from([0, 0, 0, 100])), frame(0x1, 0x5, 1, req('/home'))),
  ];
}

function h2exchange(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ALPNProtocols: ['h2'], ca: pki.read(pki.caCert) });
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(quiet);
      s.destroy();
      resolve(Buffer.concat(chunks));
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(quiet);
      quiet = setTimeout(finish, 100);
    });
    s.on('error', finish);
    s.on('close', finish);
    s.on('secureConnect', () => {
      s.write(payload);
      quiet = setTimeout(finish, 600);
    });
  });
}

/** The frames a server sent are well-formed: each frame header's length fits in what arrived. */
function framesWellFormed(b: Buffer): boolean {
  let at = 0;
  while (at + 9 <= b.length) {
    const len = b.readUIntBE(at, 3);
    if (len > 16_777_215) return false;
    at += 9 + len;
  }
  return at >= b.length || b.length - at < 9;
}

test(`HTTP/2 fuzzing: ${HTTP2_CASES} mutated frame sequences; no crash, no bypass`, { timeout: 300_000 }, async () => {
  const port = gw.gateway.port('tls');
  const seeds = h2Seeds();
  const op = fc.record({ kind: fc.nat(5), at: fc.nat(600), byte: fc.nat(255), len: fc.nat(100) });
  const samples = fc.sample(fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { maxLength: 3 })), { numRuns: HTTP2_CASES, seed: 2626 });
  const before = up.seen.length;
  let sent = 0;
  for (const [i, ops] of samples) {
    // Keep the preface intact most of the time, so the mutations reach the frames.
    const seed = seeds[i]!;
    const payload = ops.length && ops[0]!.kind === 0 ? mutate(seed, ops) : Buffer.concat([PREFACE, mutate(seed.subarray(PREFACE.length), ops)]);
    sent += 2; // at most two requests per seed sequence
    const out = await h2exchange(port, payload);
    assert.ok(framesWellFormed(out), 'the server answered with well-formed frames');
  }
  const received = up.seen.slice(before);
  for (const s of received) {
    const why = forbidden(s.method, s.url, s.headers['x-auth-user'], s.body);
    assert.equal(why, undefined, `the upstream received ${why}`);
  }
  assert.ok(received.length <= sent);
  assert.equal(gw.logs.lines.filter((l) => l.msg === 'internal error while handling a request; answered 500').length, 0, 'no internal errors');
  const health = await request(`${gw.url}/_airgate/health`);
  assert.equal(health.statusCode, 200, 'still serving');
  await health.body.dump();
  console.log(JSON.stringify({ fuzz: 'http2', cases: HTTP2_CASES, reachedUpstream: received.length, crashes: 0, bypasses: 0 }));
});
