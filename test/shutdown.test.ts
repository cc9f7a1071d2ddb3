import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { basicYaml, client, startSims } from './helpers/gateway.js';
import { spawnGateway } from './helpers/spawn.js';
import { waitFor } from './helpers/wait.js';

/** A raw keep-alive connection that has completed one request and now sits idle. */
async function idleKeepAlive(port: number): Promise<{ socket: Socket; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  let data = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => {
      data += c.toString();
      const head = data.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(data);
      if (head > 0 && len && data.length >= head + 4 + Number(len[1])) resolve();
    });
  });
  assert.match(data, /^HTTP\/1\.1 200/);
  return { socket, closed };
}

test('SIGTERM: in-flight requests finish, idle connections close, new connections are refused, exit code 0', async () => {
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: 'shutdown: { grace: 10s }' }));
  const http = client();
  try {
    const idle = await idleKeepAlive(gw.port);
    const inflight = http.req(`http://127.0.0.1:${gw.port}/_sim/stream?gate=1&lines=2`);
    const res = await inflight;
    assert.equal(res.statusCode, 200);
    const body = res.body.text();
    gw.child.kill('SIGTERM');
    await idle.closed; // the idle keep-alive connection is closed by the gateway
    await waitFor(() => gw.stdout().includes('airgate stopping'), 'the gateway to start stopping');
    const attempt = () =>
      new Promise<string>((resolve) => {
        const s = connect(gw.port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
    let refused = await attempt();
    const deadline = Date.now() + 2000;
    while (refused !== 'ECONNREFUSED' && Date.now() < deadline) refused = await attempt();
    assert.equal(refused, 'ECONNREFUSED', `the listener still accepted after SIGTERM; gateway output:\n${gw.stdout()}`);
    assert.equal(gw.child.exitCode, null, 'still running while a request is in flight');
    sims[0]!.streamer.next(); // let the in-flight stream finish
    assert.equal(await body, 'line 1\nline 2\n');
    assert.equal(await gw.exited, 0);
    assert.match(gw.stdout(), /airgate stopped/);
  } finally {
    await http.close();
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});

test('SIGTERM: requests still running after the grace period are cut and the process exits 0', async () => {
  const sims = await startSims(1);
  const gw = await spawnGateway(basicYaml(sims, { top: 'shutdown: { grace: 200ms }' }));
  const http = client();
  try {
    sims[0]!.setFaults({ hang: true });
    const outcome = http.req(`http://127.0.0.1:${gw.port}/health`).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => sims[0]!.hungRequests === 1, 'the request to reach Airflow');
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    assert.equal(await outcome, 'UND_ERR_SOCKET', 'the connection was cut');
    assert.match(gw.stdout(), /grace period over/);
  } finally {
    await http.close();
    gw.cleanup();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
