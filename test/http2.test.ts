import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';
import { basicYaml, startGateway, startSims, type LogCapture } from './helpers/gateway.js';
import { TestPki } from './helpers/certs.js';
import { handshake } from './helpers/tls-client.js';
import { waitFor } from './helpers/wait.js';
import type { Gateway } from '../src/server/gateway.js';

const run = promisify(execFile);

type Echo = { method: string; url: string; httpVersion: string; headers: Record<string, string | string[]>; rawHeaders: string[]; bodyBytes: number; sha256: string };

let pki: TestPki;
let ca: string;
let pair: { cert: string; key: string };
const SERVERNAME = 'h2.example.test';

before(() => {
  pki = new TestPki();
  ca = pki.read(pki.caCert);
  pair = pki.issue('h2', [SERVERNAME]);
});
after(() => pki.cleanup());

interface Setup {
  sims: SimulatedAirflow[];
  gateway: Gateway;
  logs: LogCapture;
  port: number;
  sessions: ClientHttp2Session[];
  session: () => Promise<ClientHttp2Session>;
  close: () => Promise<void>;
}

/** One sim behind a gateway whose only listener speaks TLS with HTTP/2 (and HTTP/1.1). */
async function setup(): Promise<Setup> {
  const sims = await startSims(1);
  const gw = await startGateway(
    basicYaml(sims, {
      listener: ['    http2: true', '    tls:', '      certificates:', `        - { cert: ${pair.cert}, key: ${pair.key} }`].join('\n'),
      backend: '    health: { enabled: false }',
    }),
  );
  const port = gw.gateway.port();
  const sessions: ClientHttp2Session[] = [];
  return {
    sims,
    gateway: gw.gateway,
    logs: gw.logs,
    port,
    sessions,
    session: async () => {
      const s = h2connect(`https://127.0.0.1:${port}`, { ca, servername: SERVERNAME });
      s.on('error', () => undefined); // surfaced through the streams that use it
      sessions.push(s);
      await once(s, 'connect');
      return s;
    },
    close: async () => {
      for (const s of sessions) s.destroy();
      await gw.gateway.stop(0);
      await Promise.all(sims.map((s) => s.stop()));
    },
  };
}

/**
 * The error a new stream gets on a session that received GOAWAY: `request()` throws it up to Node 22;
 * from Node 24 it returns a stream that fails with it (and must not get a response).
 */
async function refusedAfterGoaway(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<NodeJS.ErrnoException> {
  let stream;
  try {
    stream = session.request(headers);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  const answered = once(stream, 'response').then(() => assert.fail('a stream opened after GOAWAY got a response'));
  const [err] = (await Promise.race([once(stream, 'error'), answered])) as [NodeJS.ErrnoException];
  return err;
}

/** A whole HTTP/2 exchange: status, headers and body. */
async function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [responseHeaders] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) };
}

/** The next chunk of a stream's body (undefined at its end). */
async function nextChunk(it: AsyncIterator<unknown>): Promise<string | undefined> {
  const r = await it.next();
  return r.done ? undefined : String(r.value);
}

test('HTTP/2 GET: Host from :authority, no connection-specific headers upstream, X-Forwarded-Proto https', async () => {
  const s = await setup();
  try {
    const session = await s.session();
    const res = await h2request(session, { ':method': 'GET', ':path': '/_sim/echo?x=1', ':authority': 'airflow.example.test', 'x-custom': 'kept', te: 'trailers' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-sim-node'], 'web-1');
    assert.equal(typeof res.headers['x-request-id'], 'string');
    for (const h of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(res.headers[h], undefined, `${h} must not be sent on HTTP/2`);
    const echo = JSON.parse(res.body.toString()) as Echo;
    assert.equal(echo.url, '/_sim/echo?x=1');
    assert.equal(echo.method, 'GET');
    assert.equal(echo.headers.host, 'airflow.example.test', 'the :authority became the Host');
    assert.equal(echo.headers['x-forwarded-host'], 'airflow.example.test');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-port'], String(s.port));
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-custom'], 'kept');
    for (const h of ['keep-alive', 'transfer-encoding', 'te', 'upgrade']) assert.equal(echo.headers[h], undefined, `${h} must not reach Airflow`);
    // The upstream hop is HTTP/1.1 and undici may state its own connection handling there; nothing of the client's.
    assert.ok(echo.headers.connection === undefined || echo.headers.connection === 'keep-alive', `connection: ${String(echo.headers.connection)}`);
    assert.ok(!echo.rawHeaders.some((h, i) => i % 2 === 0 && h.startsWith(':')), 'no pseudo-header is forwarded');
    assert.equal(echo.bodyBytes, 0);
  } finally {
    await s.close();
  }
});

test('HTTP/2 POST bodies arrive intact, with and without content-length', async () => {
  const s = await setup();
  try {
    const session = await s.session();
    for (const withLength of [false, true]) {
      const body = randomBytes(1024 * 1024 + 7);
      const headers: OutgoingHttpHeaders = { ':method': 'POST', ':path': '/_sim/echo', 'content-type': 'application/octet-stream' };
      if (withLength) headers['content-length'] = body.length;
      const res = await h2request(session, headers, body);
      assert.equal(res.status, 200);
      const echo = JSON.parse(res.body.toString()) as Echo;
      assert.equal(echo.method, 'POST');
      assert.equal(echo.bodyBytes, body.length);
      assert.equal(echo.sha256, createHash('sha256').update(body).digest('hex'));
      if (withLength) assert.equal(echo.headers['content-length'], String(body.length));
    }
  } finally {
    await s.close();
  }
});

test('HTTP/2 streamed text/plain arrives chunk by chunk', async () => {
  const s = await setup();
  try {
    const session = await s.session();
    const stream = session.request({ ':path': '/_sim/stream?gate=1&lines=3&type=text/plain' });
    const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    assert.equal(headers['content-type'], 'text/plain');
    const it = stream[Symbol.asyncIterator]();
    // Each line is released only after the previous one reached the client.
    assert.equal(await nextChunk(it), 'line 1\n');
    s.sims[0]!.streamer.next();
    assert.equal(await nextChunk(it), 'line 2\n');
    s.sims[0]!.streamer.next();
    assert.equal(await nextChunk(it), 'line 3\n');
    assert.equal(await nextChunk(it), undefined);
  } finally {
    await s.close();
  }
});

test('the HTTP/2 port also serves HTTP/1.1 (ALPN offers h2 and http/1.1)', async () => {
  const s = await setup();
  const agent = new Agent({ connect: { ca, servername: SERVERNAME } });
  try {
    assert.equal((await handshake(s.port, { ca, servername: SERVERNAME, ALPNProtocols: ['h2', 'http/1.1'] })).alpnProtocol, 'h2');
    assert.equal((await handshake(s.port, { ca, servername: SERVERNAME, ALPNProtocols: ['http/1.1'] })).alpnProtocol, 'http/1.1');
    assert.equal((await handshake(s.port, { ca, ALPNProtocols: ['h2', 'http/1.1'] })).alpnProtocol, 'h2', 'also without SNI');
    const res = await request(`https://127.0.0.1:${s.port}/_sim/echo`, { dispatcher: agent, method: 'POST', body: 'hello over 1.1' });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.bodyBytes, 'hello over 1.1'.length);
    assert.equal(echo.headers.host, `127.0.0.1:${s.port}`);
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
  } finally {
    await agent.close();
    await s.close();
  }
});

test('an HTTP/2 stream reset by the client aborts the upstream request; the session lives on', async () => {
  const s = await setup();
  try {
    const sim = s.sims[0]!;
    const session = await s.session();
    sim.setFaults({ hang: true });
    const stream = session.request({ ':path': '/_sim/stream?gate=1&lines=3' });
    stream.on('error', () => undefined);
    await waitFor(() => sim.hungRequests === 1, 'the request to reach the sim');
    stream.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => sim.hungRequests === 0, 'the upstream request to be aborted');
    assert.equal(stream.rstCode, constants.NGHTTP2_CANCEL);

    // A reset while the body is streaming also ends the upstream request.
    sim.setFaults({ hang: false });
    const pool = s.gateway.runtime.backends.get('airflow')!.servers[0]!.pool;
    const streaming = session.request({ ':path': '/_sim/stream?gate=1&lines=3' });
    streaming.on('error', () => undefined);
    const it = streaming[Symbol.asyncIterator]();
    assert.equal(await nextChunk(it), 'line 1\n');
    assert.equal(pool.stats.running, 1);
    streaming.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => pool.stats.running === 0, 'the streaming upstream request to be aborted');

    // Resets concern single streams: the same session still works.
    assert.equal(session.closed || session.destroyed, false);
    const again = await h2request(session, { ':path': '/_sim/echo' });
    assert.equal(again.status, 200);
  } finally {
    await s.close();
  }
});

test('curl speaks HTTP/2 to the listener', async () => {
  const { stdout: version } = await run('curl', ['--version']);
  if (!/\bHTTP2\b/.test(version)) assert.fail(`this test needs a curl with HTTP/2 support; curl --version says:\n${version}`);
  const s = await setup();
  try {
    const url = `https://127.0.0.1:${s.port}/_sim/echo`;
    const { stdout } = await run('curl', ['--http2', '-sk', '--max-time', '10', url]);
    const echo = JSON.parse(stdout) as Echo;
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers.host, `127.0.0.1:${s.port}`);
    const { stdout: httpVersion } = await run('curl', ['-sk', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_version}', url]);
    assert.equal(httpVersion, '2');
  } finally {
    await s.close();
  }
});

test('graceful stop: an HTTP/2 session gets GOAWAY and its in-flight stream finishes', async () => {
  const s = await setup();
  let stopped = false;
  try {
    const session = await s.session();
    const goaway = once(session, 'goaway');
    const stream = session.request({ ':path': '/_sim/stream?gate=1&lines=3' });
    const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    const it = stream[Symbol.asyncIterator]();
    assert.equal(await nextChunk(it), 'line 1\n');

    const started = Date.now();
    const stopping = s.gateway.stop(5000);
    const [code] = (await goaway) as [number];
    assert.equal(code, constants.NGHTTP2_NO_ERROR, 'a graceful GOAWAY');
    assert.equal((await refusedAfterGoaway(session, { ':path': '/_sim/echo' })).code, 'ERR_HTTP2_GOAWAY_SESSION', 'no new streams after GOAWAY');

    s.sims[0]!.streamer.next();
    assert.equal(await nextChunk(it), 'line 2\n');
    s.sims[0]!.streamer.next();
    assert.equal(await nextChunk(it), 'line 3\n');
    assert.equal(await nextChunk(it), undefined);
    assert.equal(stream.rstCode, constants.NGHTTP2_NO_ERROR);
    await stopping;
    stopped = true;
    assert.ok(Date.now() - started < 5000, 'the stop finished with the stream, not at the end of the grace period');
    assert.equal(s.logs.lines.filter((l) => l.msg === 'grace period over; closing remaining connections').length, 0);
    assert.equal(s.logs.lines.filter((l) => l.msg === 'airgate stopped').length, 1);
  } finally {
    if (!stopped) await s.close();
    else {
      for (const x of s.sessions) x.destroy();
      await Promise.all(s.sims.map((x) => x.stop()));
    }
  }
});
