import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { SimulatedAirflow } from '../src/sim/airflow-sim.js';

// The compiled test is dist/test/cli.test.js; the CLI is dist/src/cli/main.js.
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exit: Promise<number | string>;
}

/** Start the CLI; the process is killed when the test ends if it is still running. */
function cli(t: TestContext, args: string[]): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, stdout: () => out, stderr: () => err, exit };
}

/** Run the CLI to completion. */
async function run(t: TestContext, args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const c = cli(t, args);
  const code = await c.exit;
  // 'exit' may fire before the pipes are drained; 'close' follows once they are.
  if (c.proc.stdout.readable || c.proc.stderr.readable) await new Promise((r) => c.proc.once('close', r));
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(t: TestContext, yaml: string): string {
  const file = join(tempDir(t), 'airgate.yaml');
  writeFileSync(file, yaml);
  return file;
}

async function startSim(t: TestContext, name = 'web-1'): Promise<SimulatedAirflow> {
  const sim = await new SimulatedAirflow({ name }).start();
  t.after(() => sim.stop());
  return sim;
}

function agent(t: TestContext): Agent {
  const a = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => a.destroy());
  return a;
}

/** A port that was free a moment ago: bind port 0, read it, close. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = srv.address();
  assert.ok(addr && typeof addr === 'object');
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return addr.port;
}

/** Try to connect until the port accepts, a bounded number of times; fail early if the child exits. */
async function waitForPort(port: number, child: Child, attempts = 200): Promise<void> {
  let exited: number | string | undefined;
  void child.exit.then((c) => (exited = c));
  for (let i = 0; i < attempts; i++) {
    if (exited !== undefined) assert.fail(`the gateway exited with ${exited} before listening\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`nothing listened on port ${port} after ${attempts} attempts\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`);
}

/** Wait until the child's stdout contains a line matching `re`; fail if it exits first. */
function waitForLine(child: Child, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(child.stdout());
      if (m) {
        child.proc.stdout.off('data', check);
        resolve(m);
      }
    };
    child.proc.stdout.on('data', check);
    void child.exit.then((code) => reject(new Error(`exited with ${code} before printing ${re}\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`)));
    check();
  });
}

const validYaml = (serverUrl: string, port = 0) => `listeners:
  - name: public
    address: 127.0.0.1:${port}
backends:
  airflow:
    servers:
      - { name: web-1, url: ${serverUrl} }
      - { name: web-2, url: http://127.0.0.1:9, weight: 2 }
routes:
  - path: /
    backend: airflow
  - path: /api
    backend: airflow
    timeouts: { response_headers: 180s }
shutdown:
  grace: 2s
`;

test('--version prints the package version', { timeout: 10_000 }, async (t) => {
  const r = await run(t, ['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), PKG.version);
  assert.equal(r.stderr, '');
});

test('check -c on a valid file exits 0 and prints listeners, backends and routes', { timeout: 10_000 }, async (t) => {
  const file = writeConfig(t, validYaml('http://127.0.0.1:8080', 18080));
  const r = await run(t, ['check', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(r.stdout.includes(`configuration ${file} is valid`), r.stdout);
  assert.match(r.stdout, /^listeners:$/m);
  assert.match(r.stdout, /^ {2}public {2}127\.0\.0\.1:18080 /m);
  assert.match(r.stdout, /^backends:$/m);
  assert.match(r.stdout, /^ {2}airflow {2}peak-ewma, retries 2 on connect-failure\/reset-before-response/m);
  assert.match(r.stdout, /^ {4}health: Airflow 2 \/health every 2s, timeout 1s, rise 2, fall 3$/m);
  assert.match(r.stdout, /^ {4}web-1 {2}http:\/\/127\.0\.0\.1:8080 {2}weight 1$/m);
  assert.match(r.stdout, /^ {4}web-2 {2}http:\/\/127\.0\.0\.1:9 {2}weight 2$/m);
  assert.match(r.stdout, /^routes/m);
  assert.match(r.stdout, /^ {2}\* +\/ +→ airflow/m);
  assert.match(r.stdout, /^ {2}\* +\/api +→ airflow .*response headers 3m/m);
});

test('check -c on a file with an unknown key exits 1 with file:line:col, the key path and a suggestion', { timeout: 10_000 }, async (t) => {
  const yaml = `listeners:
  - name: public
    address: 127.0.0.1:0
backends:
  airflow:
    servers:
      - name: web-1
        url: http://127.0.0.1:8080
        wieght: 2
routes:
  - path: /
    backend: airflow
`;
  const file = writeConfig(t, yaml);
  const r = await run(t, ['check', '-c', file]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(`${file}:9:9`), r.stderr);
  assert.ok(r.stderr.includes('backends.airflow.servers[0].wieght'), r.stderr);
  assert.match(r.stderr, /did you mean "weight"/);
  assert.match(r.stderr, /1 configuration error/);
});

test('check -c on a missing file exits 1 and names it', { timeout: 10_000 }, async (t) => {
  const file = join(tempDir(t), 'nope.yaml');
  const r = await run(t, ['check', '-c', file]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(file), r.stderr);
  assert.match(r.stderr, /cannot read/);
});

test('serve -c runs the gateway in front of a sim and exits 0 on SIGTERM', { timeout: 10_000 }, async (t) => {
  const sim = await startSim(t, 'web-1');
  const port = await freePort();
  const file = writeConfig(
    t,
    `listeners:
  - name: public
    address: 127.0.0.1:${port}
backends:
  airflow:
    servers:
      - { name: web-1, url: ${sim.url} }
routes:
  - path: /
    backend: airflow
shutdown:
  grace: 2s
`,
  );
  const child = cli(t, ['serve', '-c', file]);
  await waitForPort(port, child);

  const dispatcher = agent(t);
  const before = sim.requests;
  const res = await request(`http://127.0.0.1:${port}/api/v1/dags`, { dispatcher, headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { dags: { dag_id: string }[] };
  assert.ok(body.dags.some((d) => d.dag_id === 'example_etl'));
  assert.equal(sim.requests, before + 1, 'the request reached the sim');

  const echo = await request(`http://127.0.0.1:${port}/_sim/echo`, { dispatcher });
  assert.equal(echo.statusCode, 200);
  assert.equal(((await echo.body.json()) as { node: string }).node, 'web-1');
  await dispatcher.close();

  child.proc.kill('SIGTERM');
  assert.equal(await child.exit, 0, `stderr: ${child.stderr()}`);
  assert.match(child.stdout(), /airgate started/);
});

test('demo --port 0 prints its URL, serves health and the API, sends browsers to its IdP, and exits 0 on SIGTERM', { timeout: 10_000 }, async (t) => {
  const child = cli(t, ['demo', '--port', '0']);
  const m = await waitForLine(child, /airgate demo is running: (http:\/\/[^\s/]+)\/?\s/);
  const url = m[1]!;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(url, 'http://127.0.0.1:0');

  const dispatcher = agent(t);
  const health = await request(`${url}/health`, { dispatcher });
  assert.equal(health.statusCode, 200);
  assert.match(String(health.headers['content-type']), /^application\/json/);
  const h = (await health.body.json()) as Record<string, { status: string }>;
  assert.equal(h.metadatabase?.status, 'healthy');
  assert.ok('scheduler' in h);

  const dags = await request(`${url}/api/v1/dags`, { dispatcher, headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
  assert.equal(dags.statusCode, 200);
  const list = (await dags.body.json()) as { dags: { dag_id: string }[]; total_entries: number };
  assert.ok(list.total_entries > 0);
  assert.ok(list.dags.some((d) => d.dag_id === 'example_etl'));

  const unauth = await request(`${url}/api/v1/dags`, { dispatcher });
  assert.equal(unauth.statusCode, 401);
  assert.equal(unauth.headers['www-authenticate'], 'Basic');
  await unauth.body.dump();

  // A browser opening the UI is sent to the development IdP's login, with PKCE.
  const page = await request(`${url}/home`, { dispatcher, headers: { accept: 'text/html' } });
  assert.equal(page.statusCode, 302);
  const login = new URL(String(page.headers.location));
  assert.match(login.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(login.searchParams.get('client_id'), 'airgate-demo');
  assert.equal(login.searchParams.get('code_challenge_method'), 'S256');
  await page.body.dump();
  await dispatcher.close();

  child.proc.kill('SIGTERM');
  assert.equal(await child.exit, 0, `stderr: ${child.stderr()}`);
});
