import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { basicYaml, startGateway, startSims } from './helpers/gateway.js';
import { waitFor } from './helpers/wait.js';
import { loadConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/config/config-error.js';
import { autoWorkers, cgroupCpuLimit } from '../src/cli/cpu-limit.js';

/** RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA SP MSG */
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) airgate (\d+) (access|audit) - (\{.*\})$/;

async function gatewayLoggingTo(t: TestContext, destination: string) {
  const sims = await startSims(1);
  t.after(() => Promise.all(sims.map((s) => s.stop())));
  const gw = await startGateway(basicYaml(sims, { top: `access_log: { destination: "${destination}" }\naudit_log: { enabled: false }` }));
  t.after(() => gw.gateway.stop(0));
  return gw;
}

test('access log to syslog over UDP: one RFC 5424 datagram per request, facility from the URL', async (t) => {
  const udp = createSocket('udp4');
  const got: string[] = [];
  udp.on('message', (m) => got.push(m.toString()));
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  t.after(() => udp.close());
  const gw = await gatewayLoggingTo(t, `syslog://127.0.0.1:${udp.address().port}?facility=local3`);
  for (let i = 0; i < 3; i++) {
    const res = await request(`${gw.url}/health`, { headers: { 'x-request-id': `udp-${i}` } });
    await res.body.dump();
  }
  await waitFor(() => got.length === 3, 'three datagrams');
  for (const [i, msg] of got.entries()) {
    const m = RFC5424.exec(msg) ?? assert.fail(`not RFC 5424: ${msg}`);
    assert.equal(Number(m[1]), 19 * 8 + 6, 'local3.info');
    assert.equal(m[5], 'access');
    const line = JSON.parse(m[6]!) as { request_id: string; status: number };
    assert.equal(line.request_id, `udp-${i}`);
    assert.equal(line.status, 200);
  }
});

test('access log to syslog over TCP: RFC 5424 messages in octet-counted frames (RFC 6587)', async (t) => {
  let buffer = '';
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.setEncoding('utf8').on('data', (c: string) => (buffer += c));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as { port: number }).port;
  const gw = await gatewayLoggingTo(t, `syslog+tcp://127.0.0.1:${port}`);
  for (let i = 0; i < 4; i++) await (await request(`${gw.url}/health`, { headers: { 'x-request-id': `tcp-${i}` } })).body.dump();
  const frames = (): string[] => {
    const out: string[] = [];
    let rest = buffer;
    while (rest.length) {
      const sp = rest.indexOf(' ');
      const len = Number(rest.slice(0, sp));
      const bytes = Buffer.from(rest.slice(sp + 1));
      if (bytes.length < len) break;
      const msg = bytes.subarray(0, len).toString();
      out.push(msg);
      rest = bytes.subarray(len).toString();
    }
    return out;
  };
  await waitFor(() => frames().length === 4, 'four frames');
  assert.deepEqual(
    frames().map((f) => (JSON.parse((RFC5424.exec(f) ?? assert.fail(f))[6]!) as { request_id: string }).request_id),
    ['tcp-0', 'tcp-1', 'tcp-2', 'tcp-3'],
  );
  assert.equal(Number(RFC5424.exec(frames()[0]!)![1]), 16 * 8 + 6, 'local0.info by default');
});

test('a syslog destination that is not a URL is a config error naming the key', () => {
  const yaml = basicYaml([], { top: 'access_log: { destination: "syslog://no-port" }' }).replace('    servers:\n', '    servers:\n      - { name: web-1, url: http://127.0.0.1:9 }\n');
  assert.throws(
    () => loadConfigText(yaml, 'airgate.yaml'),
    (err: unknown) => err instanceof ConfigError && /access_log\.destination: expected stdout, stderr, an absolute file path, syslog:\/\/HOST:PORT/.test(err.message),
  );
});

/** A fake filesystem root with the given files. */
function root(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-cgroup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test('workers: auto honours the cgroup CPU limit (v2 cpu.max, v1 CFS quota), else the CPUs the OS offers', (t) => {
  // Kubernetes limits.cpu: 2 on a 64-core node, cgroup v2, the pod's cgroup seen as "/".
  const v2 = root(t, { 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '200000 100000\n' });
  assert.equal(cgroupCpuLimit(v2), 2);
  assert.equal(autoWorkers(v2, 64), 2);
  // A nested cgroup: the tightest limit on the path wins; 1.5 CPUs run one worker.
  const nested = root(t, {
    'proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
    'sys/fs/cgroup/kubepods/cpu.max': '800000 100000\n',
    'sys/fs/cgroup/kubepods/pod1/ctr/cpu.max': '150000 100000\n',
  });
  assert.equal(autoWorkers(nested, 64), 1);
  // No limit: "max".
  const unlimited = root(t, { 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' });
  assert.equal(cgroupCpuLimit(unlimited), undefined);
  assert.equal(autoWorkers(unlimited, 8), 8);
  // cgroup v1: cpu,cpuacct controller, quota 300 ms per 100 ms.
  const v1 = root(t, {
    'proc/self/cgroup': '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n',
    'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '300000\n',
    'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
  });
  assert.equal(autoWorkers(v1, 64), 3);
  // v1 without a quota (-1); a limit above the machine's CPUs; no cgroup files at all.
  const v1free = root(t, { 'proc/self/cgroup': '4:cpu,cpuacct:/\n', 'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n', 'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n' });
  assert.equal(autoWorkers(v1free, 4), 4);
  assert.equal(autoWorkers(v2, 1), 1);
  assert.equal(autoWorkers(root(t, {}), 6), 6);
});
