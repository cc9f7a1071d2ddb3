import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { stuckListener } from './helpers/stuck-listener.js';
import { once } from 'node:events';
import { LeanPool, type LeanPoolOptions } from '../src/upstream/lean/pool.js';
import type { LeanDispatchOptions, RawFields } from '../src/upstream/lean/pending.js';
import { upstreamErrorCode } from '../src/core/errors.js';
import { TestPki } from './helpers/certs.js';

// The lean upstream client on real sockets: keep-alive and LIFO reuse, the FIFO wait queue, the
// sweeping timer's timeouts, the one stale-socket retry, backpressure both ways, aborts, trailers,
// informational answers, bodiless answers, framing errors, upgrades, TLS and a draining close.

interface Result {
  infos: number[];
  status: number;
  headers: string[];
  body: Buffer;
  trailers: string[];
  error?: Error & { code?: string };
}

interface Hooks {
  onConnect?: (abort: (err?: Error) => void) => void;
  /** Return false to pause; `resume` is kept in `paused`. */
  onData?: (chunk: Buffer, resume: () => void) => boolean;
  onUpgrade?: (status: number, raw: RawFields | null, socket: Duplex) => void;
}

function send(pool: LeanPool, opts: Partial<LeanDispatchOptions>, hooks: Hooks = {}): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { infos: [], status: 0, headers: [], body: Buffer.alloc(0), trailers: [] };
    const chunks: Buffer[] = [];
    let resume: () => void = () => undefined;
    let errors = 0;
    pool.dispatch(
      { path: '/', method: 'GET', headers: ['host', 'upstream.test'], body: null, ...opts },
      {
        onConnect: (abort) => hooks.onConnect?.(abort),
        onHeaders: (status, raw, res) => {
          resume = res;
          if (status < 200) r.infos.push(status);
          else {
            r.status = status;
            r.headers = raw.map((b) => b.toString('latin1'));
          }
          return true;
        },
        onData: (chunk) => {
          chunks.push(Buffer.from(chunk));
          return hooks.onData ? hooks.onData(chunk, resume) : true;
        },
        onComplete: (trailers) => {
          r.body = Buffer.concat(chunks);
          r.trailers = (trailers ?? []).map((t) => t.toString('latin1'));
          resolve(r);
        },
        onError: (err) => {
          assert.equal(++errors, 1, 'onError is called once');
          r.error = err;
          r.body = Buffer.concat(chunks);
          resolve(r);
        },
        onUpgrade: (status, raw, socket) => {
          r.status = status;
          hooks.onUpgrade?.(status, raw, socket);
          resolve(r);
        },
      },
    );
  });
}

async function listen<S extends Server | ReturnType<typeof createNetServer>>(server: S): Promise<{ server: S; origin: string; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, origin: `http://127.0.0.1:${port}`, port };
}

function closeServer(server: { close(cb: () => void): unknown; closeAllConnections?: () => void }): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

const OPTS: LeanPoolOptions = { connections: 4, keepAliveTimeout: 4_000, connectTimeout: 2_000 };

/** A node:http server whose handler answers with `answer`; counts connections. */
async function httpServer(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createHttpServer({ keepAliveTimeout: 10_000 }, answer);
  const ports: number[] = [];
  server.on('connection', (s: Socket) => ports.push(s.remotePort!));
  const l = await listen(server);
  return { ...l, ports };
}

/** A raw TCP server: `onRequest(socket, head, n)` for each request head (n counts per connection). */
async function rawServer(onRequest: (socket: Socket, head: string, n: number) => void) {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    let n = 0;
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        onRequest(socket, head, n++);
      }
    });
  });
  const l = await listen(server);
  return {
    ...l,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return closeServer(server);
    },
  };
}

test('keep-alive: sequential requests share one connection; the idle stack is LIFO', async () => {
  const held: ServerResponse[] = [];
  let arrived: () => void = () => undefined;
  const s = await httpServer((req, res) => {
    if (req.url === '/hold') {
      held.push(res);
      if (held.length === 2) arrived();
      return;
    }
    res.end(String(req.socket.remotePort));
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    const a = await send(pool, {});
    const b = await send(pool, {});
    assert.equal(a.body.toString(), b.body.toString());
    assert.equal(s.ports.length, 1);
    // Two connections; the one that finished last is reused first.
    const both = new Promise<void>((resolve) => (arrived = resolve));
    const first = send(pool, { path: '/hold' });
    const second = send(pool, { path: '/hold' });
    await both;
    assert.equal(s.ports.length, 2);
    const [r1, r2] = held as [ServerResponse, ServerResponse];
    r1.end('one');
    await first;
    r2.end('two');
    await second;
    const next = await send(pool, {});
    assert.equal(next.body.toString(), String(r2.req.socket.remotePort));
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
});

test('all connections busy: requests wait in FIFO order', async () => {
  const order: string[] = [];
  const s = await httpServer((req, res) => {
    order.push(req.url!);
    res.end('ok');
  });
  const pool = new LeanPool(s.origin, { ...OPTS, connections: 1 });
  try {
    const all = await Promise.all(['/1', '/2', '/3', '/4'].map((path) => send(pool, { path })));
    assert.deepEqual(
      all.map((r) => r.status),
      [200, 200, 200, 200],
    );
    assert.deepEqual(order, ['/1', '/2', '/3', '/4']);
    assert.equal(s.ports.length, 1);
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
});

test('an idle connection closes after keepAliveTimeout, and an upstream Keep-Alive hint lowers it', async () => {
  let serverSide: Socket | undefined;
  const s = await httpServer((req, res) => {
    serverSide = req.socket;
    res.end('ok');
  });
  const pool = new LeanPool(s.origin, { ...OPTS, keepAliveTimeout: 150 });
  try {
    await send(pool, {});
    assert.equal(pool.stats.connected, 1);
    await once(serverSide!, 'close'); // the pool's sweep closed it
    while (pool.stats.connected > 0) await new Promise((r) => setImmediate(r));
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
  // `Keep-Alive: timeout=1` leaves no idle time below the server's: each answer closes its connection.
  const raw = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'));
  let accepted = 0;
  raw.server.on('connection', () => accepted++);
  const hinted = new LeanPool(raw.origin, OPTS);
  try {
    await send(hinted, {});
    await send(hinted, {});
    assert.equal(accepted, 2);
  } finally {
    await hinted.destroy();
    await raw.close();
  }
});

test('timeouts: response head, body idle and connect each end with undici’s code', async () => {
  const s = await rawServer((socket, head) => {
    if (head.startsWith('GET /head')) return; // never answers
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); // then goes silent
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    const h = await send(pool, { path: '/head', headersTimeout: 150 });
    assert.equal(h.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    assert.equal(upstreamErrorCode(h.error), 'AIRGATE_ERR_UPSTREAM_TIMEOUT');
    const b = await send(pool, { path: '/body', bodyTimeout: 150 });
    assert.equal(b.error?.code, 'UND_ERR_BODY_TIMEOUT');
    assert.equal(b.body.toString(), 'abc');
  } finally {
    await pool.destroy();
    await s.close();
  }
  // A listener that never accepts (backlog full): the connect clock runs out.
  const listener = await stuckListener();
  try {
    const stuck = new LeanPool(`http://127.0.0.1:${listener.port}`, { ...OPTS, connectTimeout: 150 });
    const c = await send(stuck, {});
    assert.equal(c.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
    await stuck.destroy();
  } finally {
    listener.close();
  }
  // Nobody listening: ECONNREFUSED, as undici reports it.
  const refused = await listen(createNetServer());
  await closeServer(refused.server);
  const gone = new LeanPool(refused.origin, OPTS);
  const r = await send(gone, {});
  assert.equal(r.error?.code, 'ECONNREFUSED');
  assert.equal(upstreamErrorCode(r.error), 'AIRGATE_ERR_UPSTREAM_CONNECT');
  await gone.destroy();
});

test('a reused connection closed before any answer byte: a GET is sent once more, a POST is not', async () => {
  const s = await rawServer((socket, head, n) => {
    if (n === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
    else if (head.includes('x-drop: yes'))
      socket.destroy(); // a stale keep-alive connection
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
  });
  const pool = new LeanPool(s.origin, { ...OPTS, connections: 1 });
  try {
    assert.equal((await send(pool, {})).body.toString(), 'first');
    const retried = await send(pool, { headers: ['host', 'upstream.test', 'x-drop', 'yes'] });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.toString(), 'first'); // a new connection's first answer
    const post = await send(pool, { method: 'POST', headers: ['host', 'upstream.test', 'x-drop', 'yes'], body: Buffer.from('data') });
    assert.equal(post.error?.code, 'UND_ERR_SOCKET');
    assert.equal(upstreamErrorCode(post.error), 'AIRGATE_ERR_UPSTREAM_RESET');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('backpressure: a paused consumer stops the upstream; a slow upstream stops the request body', async () => {
  const TOTAL = 32 * 1024 * 1024;
  let blocked: () => void = () => undefined;
  const isBlocked = new Promise<void>((resolve) => (blocked = resolve));
  const s = await httpServer((req, res) => {
    if (req.method === 'POST') {
      req.pause();
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(String(n)));
      (res as ServerResponse & { resumeBody?: () => void }).resumeBody = () => req.resume();
      uploads.push(req);
      return;
    }
    res.writeHead(200, { 'content-length': TOTAL });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const pump = () => {
      while (sent < TOTAL) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          blocked();
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const uploads: IncomingMessage[] = [];
  const pool = new LeanPool(s.origin, OPTS);
  try {
    let received = 0;
    let paused = true;
    let resumeIt: () => void = () => undefined;
    const download = send(
      pool,
      {},
      {
        onData: (chunk, resume) => {
          received += chunk.length;
          resumeIt = resume;
          return !paused;
        },
      },
    );
    await isBlocked;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.ok(received < TOTAL / 4, `a paused consumer received ${received} bytes`);
    paused = false;
    resumeIt();
    const done = await download;
    assert.equal(done.error, undefined);
    assert.equal(received, TOTAL);

    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= TOTAL) this.push(null);
        else {
          produced += 256 * 1024;
          this.push(Buffer.alloc(256 * 1024, 121));
        }
      },
    });
    const upload = send(pool, { method: 'POST', path: '/up', body: source });
    while (!(uploads.length === 1 && source.isPaused() && produced > 0)) await new Promise((r) => setImmediate(r));
    assert.ok(produced < TOTAL / 2, `the source produced ${produced} bytes while the upstream read none`);
    uploads[0]!.resume();
    const up = await upload;
    assert.equal(up.body.toString(), String(TOTAL));
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
});

test('an abort from the caller closes the upstream request; onError is called once', async () => {
  let serverSide: Socket | undefined;
  let arrived: () => void = () => undefined;
  const here = new Promise<void>((resolve) => (arrived = resolve));
  const s = await httpServer((req) => {
    serverSide = req.socket;
    arrived();
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    let abort: (err?: Error) => void = () => undefined;
    const pending = send(pool, {}, { onConnect: (a) => (abort = a) });
    await here;
    abort(new Error('client went away'));
    const r = await pending;
    assert.equal(r.error?.message, 'client went away');
    await once(serverSide!, 'close');
    assert.equal(pool.stats.running, 0);
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
});

test('trailers, 103 Early Hints, chunk extensions; 100 Continue is refused as undici does', async () => {
  const s = await rawServer((socket, head) => {
    if (head.startsWith('GET /trailers')) socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2;q="x y"\r\nde\r\n0\r\nX-Checksum: 42\r\nX-Other: b\r\n\r\n');
    else socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    const t = await send(pool, { path: '/trailers' });
    assert.deepEqual(t.infos, [103]);
    assert.equal(t.status, 200);
    assert.equal(t.body.toString(), 'abcde');
    assert.deepEqual(t.trailers, ['X-Checksum', '42', 'X-Other', 'b']);
    const c = await send(pool, { path: '/continue' });
    assert.equal(c.error?.code, 'UND_ERR_SOCKET');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('HEAD, 204 and 304 have no body; read-until-close is not reused; truncated bodies are errors', async () => {
  const s = await rawServer((socket, head) => {
    const path = head.split(' ')[1];
    if (path === '/head') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    else if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
    else if (path === '/close') socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
    else if (path === '/short') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    else socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab');
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    const h = await send(pool, { method: 'HEAD', path: '/head' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    for (const p of ['/204', '/304']) {
      const r = await send(pool, { path: p });
      assert.equal(r.status, Number(p.slice(1)));
      assert.equal(r.body.length, 0);
    }
    let accepted = 0;
    s.server.on('connection', () => accepted++);
    const c = await send(pool, { path: '/close' });
    assert.equal(c.body.toString(), 'until the end');
    const before = accepted;
    assert.equal((await send(pool, { path: '/204' })).status, 204);
    assert.equal(accepted, before + 1, 'a close-delimited answer leaves no connection to reuse');
    const short = await send(pool, { path: '/short' });
    assert.equal(short.error?.code, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
    const chunked = await send(pool, { path: '/chunked' });
    assert.equal(chunked.error?.code, 'UND_ERR_SOCKET');
    assert.equal(chunked.body.toString(), 'ab');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('an upgrade hands over the socket, with the bytes that followed the 101 head', async () => {
  const s = await rawServer((socket, head) => {
    assert.match(head, /\r\nconnection: upgrade\r\nupgrade: websocket\r\n/);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly');
    socket.on('data', (d) => socket.write(`echo:${d.toString()}`));
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    let upstream: Duplex | undefined;
    const r = await send(pool, { upgrade: 'websocket' }, { onUpgrade: (_s, _raw, socket) => (upstream = socket) });
    assert.equal(r.status, 101);
    const [early] = (await once(upstream!, 'data')) as [Buffer];
    assert.equal(early.toString(), 'early');
    upstream!.write('ping');
    const [echo] = (await once(upstream!, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'echo:ping');
    assert.equal(pool.stats.connected, 0);
    upstream!.destroy();
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('an https upstream: verified with the CA; an unknown CA is a TLS error', async () => {
  const pki = new TestPki();
  const leaf = pki.issue('up', ['localhost']);
  const server = createHttpsServer({ cert: pki.read(leaf.cert), key: pki.read(leaf.key) }, (_req, res) => res.end('secure'));
  const l = await listen(server);
  const origin = `https://localhost:${l.port}`;
  const good = new LeanPool(origin, { ...OPTS, tls: { ca: pki.read(pki.caCert) } });
  const bad = new LeanPool(origin, OPTS);
  try {
    assert.equal((await send(good, {})).body.toString(), 'secure');
    const r = await send(bad, {});
    assert.equal(upstreamErrorCode(r.error), 'AIRGATE_ERR_UPSTREAM_TLS');
  } finally {
    await good.destroy();
    await bad.destroy();
    await closeServer(server);
    pki.cleanup();
  }
});

test('close() finishes what is in flight, refuses new requests, then closes every connection', async () => {
  let held: ServerResponse | undefined;
  let arrived: () => void = () => undefined;
  const here = new Promise<void>((resolve) => (arrived = resolve));
  const s = await httpServer((req, res) => {
    if (req.url === '/hold') {
      held = res;
      arrived();
    } else res.end('ok');
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    await send(pool, {}); // leaves an idle connection
    const inflight = send(pool, { path: '/hold' });
    await here;
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    const late = await send(pool, {});
    assert.equal(late.error?.code, 'UND_ERR_CLOSED');
    assert.equal(closed, false);
    held!.end('done');
    assert.equal((await inflight).body.toString(), 'done');
    await closing;
    assert.equal(pool.stats.connected, 0);
  } finally {
    await pool.destroy();
    await closeServer(s.server);
  }
});

test('a request head with CR or LF in a name or value is refused before anything is sent', async () => {
  const heads: string[] = [];
  const s = await rawServer((socket, head) => {
    heads.push(head);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    for (const headers of [
      ['host', 'h', 'x-a', 'v\r\nx-injected: 1'],
      ['host', 'h', 'x-a\nb', 'v'],
      ['host', 'h', 'x-a', 'v\0'],
    ]) {
      const r = await send(pool, { headers });
      assert.equal(r.error?.code, 'UND_ERR_INVALID_ARG');
    }
    const fine = await send(pool, { headers: ['host', 'h', 'x-a', 'v'] });
    assert.equal(fine.status, 200);
    assert.equal(heads.length, 1);
    assert.match(heads[0]!, /^GET \/ HTTP\/1\.1\r\nconnection: keep-alive\r\nhost: h\r\nx-a: v$/);
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('a headers timeout on a reused connection is reported, not sent again as a stale-socket retry', async () => {
  let requests = 0;
  const s = await rawServer((socket) => {
    // The first request is answered; the next one reaches the server, which never answers.
    if (requests++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const pool = new LeanPool(s.origin, { ...OPTS, connections: 1 });
  try {
    assert.equal((await send(pool, {})).status, 200);
    const slow = await send(pool, { headersTimeout: 150 });
    assert.equal(slow.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    assert.equal(requests, 2, 'a request the server received and did not answer in time is not sent again');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('a resume kept from a finished response does not resume the next request on the same connection', async () => {
  const s = await rawServer((socket, _head, n) => {
    if (n === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab');
    else socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n');
  });
  const pool = new LeanPool(s.origin, { ...OPTS, connections: 1 });
  try {
    let staleResume: () => void = () => undefined;
    await new Promise<void>((resolve, reject) =>
      pool.dispatch(
        { path: '/a', method: 'GET', headers: ['host', 'upstream.test'], body: null },
        {
          onHeaders: (_status, _raw, resume) => {
            staleResume = resume;
            return true;
          },
          onData: () => true,
          onComplete: () => resolve(),
          onError: reject,
        },
      ),
    );
    const chunks: string[] = [];
    let completed = false;
    let resumeB: () => void = () => undefined;
    let firstChunk: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (firstChunk = resolve));
    const done = new Promise<void>((resolve, reject) =>
      pool.dispatch(
        { path: '/b', method: 'GET', headers: ['host', 'upstream.test'], body: null },
        {
          onHeaders: (_status, _raw, resume) => {
            resumeB = resume;
            return true;
          },
          onData: (chunk) => {
            chunks.push(chunk.toString('latin1'));
            firstChunk();
            return false; // B's consumer is slow
          },
          onComplete: () => {
            completed = true;
            resolve();
          },
          onError: reject,
        },
      ),
    );
    await paused;
    staleResume(); // A's client drained long after A ended
    assert.deepEqual(chunks, ['hello'], 'B stays paused until its own consumer resumes');
    assert.equal(completed, false);
    for (let i = 0; !completed && i < 10; i++) {
      resumeB();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    assert.equal(chunks.join(''), 'helloworld');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('framing headers are trimmed of SP and HTAB only: a Content-Length or Transfer-Encoding ending in NBSP is refused', async () => {
  const s = await rawServer((socket, head) => {
    if (head.startsWith('GET /cl')) socket.write(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\xa0\r\n\r\nok', 'latin1'));
    else socket.write(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\xa0\r\n\r\n2\r\nok\r\n0\r\n\r\n', 'latin1'));
  });
  const pool = new LeanPool(s.origin, OPTS);
  try {
    const cl = await send(pool, { path: '/cl' });
    assert.equal(cl.error?.code, 'HPE_UNEXPECTED_CONTENT_LENGTH');
    const te = await send(pool, { path: '/te' });
    assert.equal(te.error?.code, 'HPE_INVALID_TRANSFER_ENCODING');
  } finally {
    await pool.destroy();
    await s.close();
  }
});

test('a paused body cut short by an upstream that closed meanwhile ends with an error on resume', async () => {
  const s = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  const pool = new LeanPool(s.origin, OPTS);
  try {
    let resume: () => void = () => undefined;
    let firstChunk: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (firstChunk = resolve));
    const pending = send(
      pool,
      {},
      {
        onData: (_chunk, res) => {
          resume = res;
          firstChunk();
          return false;
        },
      },
    );
    await paused;
    while (pool.stats.connected > 0) await new Promise((r) => setImmediate(r)); // the upstream's close was seen
    resume();
    const r = await pending;
    assert.equal(r.error?.code, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
    assert.equal(r.body.toString(), 'abc');
  } finally {
    await pool.destroy();
    await s.close();
  }
});
