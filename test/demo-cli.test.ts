import { spawn, execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import parsePrometheus from 'parse-prometheus-text-format';
import { chromium } from 'playwright-core';
import { eventually } from './helpers/tls-client.js';

// `airgate demo` run as a user runs it (`npm start` does the same): the real CLI in its own process,
// from the package root, on ports it chooses itself.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FALL = 3; // the default health.fall: a failing server is down after this many checks

interface Demo {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | string>;
  banner: string;
  url: string;
  admin: string;
  token: string;
  issuer: string;
  commands: string[];
}

async function startDemo(t: TestContext, airflow: 2 | 3): Promise<Demo> {
  const proc = spawn(process.execPath, [CLI, 'demo', '--port', '0', '--airflow', String(airflow)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const end = "The gateway's log follows.\n";
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', () => out.includes(end) && resolve());
    void exit.then((code) => reject(new Error(`demo exited with ${code}: ${err}`)));
  });
  const banner = out.slice(0, out.indexOf(end) + end.length);
  const match = (re: RegExp) => re.exec(banner)?.[1] ?? assert.fail(`no ${re} in the banner:\n${banner}`);
  const dashboard = new URL(match(/Dashboard: (\S+)/));
  const tryBlock = banner.slice(banner.indexOf('  Try:\n') + 7).split('\n\n')[0]!;
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exit,
    banner,
    url: match(/airgate demo is running: (http:\/\/[^/\s]+)\//),
    admin: dashboard.origin,
    token: match(/sign in with the admin token (\S+)\)/),
    issuer: match(/a development IdP at (\S+) /),
    commands: tryBlock.split('\n').map((l) => l.replace(/^ {4}/, '')),
  };
}

/** Checks run and failed per server, from the gateway's own metrics on the admin listener. */
async function checks(demo: Demo): Promise<Map<string, { pass: number; fail: number }>> {
  const res = await request(`${demo.admin}/metrics`, { headers: { authorization: `Bearer ${demo.token}` } });
  assert.equal(res.statusCode, 200);
  const family = parsePrometheus(await res.body.text()).find((f) => f.name === 'airgate_server_checks_total');
  const byServer = new Map<string, { pass: number; fail: number }>();
  for (const m of (family?.metrics ?? []) as { labels: Record<string, string>; value: string }[]) {
    const entry = byServer.get(m.labels.server!) ?? { pass: 0, fail: 0 };
    entry[m.labels.result as 'pass' | 'fail'] = Number(m.value);
    byServer.set(m.labels.server!, entry);
  }
  return byServer;
}

type Page = import('playwright-core').Page;

/** Log in through the development IdP in a real browser; returns what /_airgate/userinfo says. `then` runs in the logged-in page. */
async function browserLogin(browser: import('playwright-core').Browser, demo: Demo, user: string, path: string, then?: (page: Page) => Promise<void>): Promise<{ role: string; landed: string }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${demo.url}${path}`);
    assert.ok(page.url().startsWith(demo.issuer), `the browser is at the development IdP, not ${page.url()}`);
    await page.fill('input[name="login"]', user);
    await page.fill('input[name="password"]', 'any-password');
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href.startsWith(demo.url) || u.pathname.includes('/interaction/'));
    if (!page.url().startsWith(demo.url)) {
      await page.click('button[type="submit"]'); // consent
      await page.waitForURL((u) => u.href.startsWith(demo.url));
    }
    const landed = new URL(page.url()).pathname;
    const info = await page.goto(`${demo.url}/_airgate/userinfo`);
    const body = (await info!.json()) as { user: string; role: string };
    assert.equal(body.user, user);
    await then?.(page);
    return { role: body.role, landed };
  } finally {
    await context.close();
  }
}

/** A call the page makes with the browser's cookies, as the Airflow 3 UI does. */
async function pageFetch(page: Page, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: unknown }> {
  return page.evaluate(
    async ({ path, method, body }) => {
      const res = await fetch(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    },
    { path, method: init.method ?? 'GET', body: init.body },
  );
}

/**
 * Airflow 3 answers the browser's `/api/v2` and `/ui` calls as the logged-in user, and its own
 * authorization (SimpleAuthManager: a trigger needs USER) decides by the gateway's role: the run's
 * `triggered_by` names the user, and a Viewer's trigger is refused by Airflow, not by airgate.
 */
async function airflow3AsUser(page: Page, user: string, role: string): Promise<void> {
  const dags = await pageFetch(page, '/api/v2/dags');
  assert.equal(dags.status, 200, `${user}: /api/v2/dags`);
  assert.ok((dags.body as { dags: { dag_id: string }[] }).dags.some((d) => d.dag_id === 'example_etl'));
  const runId = `demo_by_${user}`;
  const trigger = await pageFetch(page, '/api/v2/dags/example_etl/dagRuns', { method: 'POST', body: { dag_run_id: runId, logical_date: null } });
  if (role === 'Viewer') {
    assert.deepEqual(trigger, { status: 403, body: { detail: 'Forbidden' } }, `${user} (Viewer) may not trigger`);
  } else {
    assert.equal(trigger.status, 200, `${user} (${role}) triggers: ${JSON.stringify(trigger.body)}`);
    assert.equal((trigger.body as { triggered_by: string }).triggered_by, user, 'Airflow saw the logged-in user');
  }
  const grid = await pageFetch(page, '/ui/grid/runs/example_etl');
  assert.equal(grid.status, 200, `${user}: /ui/grid/runs`);
  const runs = (grid.body as { run_id: string }[]).map((r) => r.run_id);
  assert.equal(runs.includes(runId), role !== 'Viewer', `${user}'s run in the UI's grid: ${runs.join(', ')}`);
}

for (const airflow of [2, 3] as const) {
  test(`airgate demo --airflow ${airflow}: banner first, every server up, SSO in a browser${airflow === 3 ? ', Airflow serves the user with their role' : ''}, the printed commands work`, { timeout: 90_000 }, async (t) => {
    const demo = await startDemo(t, airflow);

    // What a user reads first: the URL, the users, the commands; no IdP warnings anywhere.
    assert.match(demo.stdout(), /^\nairgate demo is running: http:\/\/127\.0\.0\.1:\d+\/\n {2}Open it in a browser and log in as alice \(Admin\), bob \(Op\) or carol \(Viewer\)/);
    assert.equal(demo.stderr(), '', 'nothing on stderr');
    assert.doesNotMatch(demo.stdout(), /oidc-provider (WARNING|NOTICE)/);
    assert.equal(demo.banner.match(/development IdP/g)?.length, 1, 'one line says the IdP is a development one');
    assert.match(demo.banner, new RegExp(`simulated Airflow ${airflow} `));
    if (airflow === 3) assert.match(demo.banner, /\n {2}\/ui and \/api\/v2 reach Airflow 3 as the user you log in as, with that role;/, 'one line says how Airflow 3 sees the user');

    // Every server is still up once each has had enough checks to be taken down.
    await eventually(async () => [...(await checks(demo)).values()].filter((c) => c.pass + c.fail >= FALL).length === 3, `${FALL} health checks of each server`, 30_000);
    for (const [server, c] of await checks(demo)) assert.equal(c.fail, 0, `${server}: no failed health check`);
    const status = (await (await request(`${demo.admin}/status`, { headers: { authorization: `Bearer ${demo.token}` } })).body.json()) as { backends: { servers: { name: string; status: string }[] }[] };
    assert.deepEqual(
      status.backends[0]!.servers.map((s) => `${s.name}=${s.status}`),
      ['web-1=up', 'web-2=up', 'web-3=up'],
    );
    assert.doesNotMatch(demo.stdout(), /is down/);

    // A browser asking for a page is sent to the development IdP, with PKCE.
    const page = airflow === 2 ? '/home' : '/dags/example_etl';
    const redirect = await request(`${demo.url}${page}`, { headers: { accept: 'text/html' } });
    await redirect.body.dump();
    assert.equal(redirect.statusCode, 302);
    const login = new URL(String(redirect.headers.location));
    assert.equal(login.origin, demo.issuer);
    assert.equal(login.searchParams.get('client_id'), 'airgate-demo');
    assert.equal(login.searchParams.get('code_challenge_method'), 'S256');

    // The users log in there and have the roles the banner promises (all three on Airflow 3, alice on 2:
    // the roles are the gateway's, the same for both versions).
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const users = [...demo.banner.matchAll(/(alice|bob|carol) \((\w+)\)/g)];
      assert.equal(users.length, 3);
      for (const [, user, role] of airflow === 3 ? users : users.slice(0, 1)) {
        const seen = await browserLogin(browser, demo, user!, page, airflow === 3 ? (p) => airflow3AsUser(p, user!, role!) : undefined);
        assert.deepEqual(seen, { role, landed: page }, `${user} logs in and lands where they started`);
      }
    } finally {
      await browser.close();
    }

    // The printed commands, run as printed by a POSIX shell from where the demo was started.
    assert.equal(demo.commands.length, airflow === 2 ? 5 : 6);
    const script = demo.commands.map((c, i) => `${c}\nprintf '\\n<<<${i}>>>\\n'`).join('\n');
    const { stdout } = await promisify(execFile)('/bin/sh', ['-e', '-c', script], { cwd: ROOT, timeout: 30_000 });
    const outputs = stdout.split(/\n<<<\d+>>>\n/);
    const [health, ...rest] = outputs;
    const h = JSON.parse(health!) as Record<string, { status: string }>;
    assert.equal(h.metadatabase?.status, 'healthy');
    const dags = JSON.parse(rest[airflow === 2 ? 0 : 1]!) as { dags: { dag_id: string }[] };
    assert.ok(dags.dags.some((d) => d.dag_id === 'example_etl'));
    if (airflow === 3) assert.equal(rest[0], '', 'the token is kept in $TOKEN');
    const table = rest[airflow === 2 ? 1 : 2]!;
    for (const n of [1, 2, 3]) assert.match(table, new RegExp(`web-${n} +up `));
    assert.deepEqual((JSON.parse(rest.at(-3)!) as { faults: { hang: boolean } }).faults.hang, true);
    assert.deepEqual((JSON.parse(rest.at(-2)!) as { faults: { hang: boolean } }).faults.hang, false);

    // Airflow 3's own token endpoint answers through the gateway, refusals included.
    if (airflow === 3) {
      const bad = await request(`${demo.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"admin","password":"wrong"}' });
      assert.equal(bad.statusCode, 401);
      assert.deepEqual(await bad.body.json(), { detail: 'Invalid credentials' });
      // Its tokens keep their user and role through the gateway: admin triggers, viewer is refused by Airflow.
      for (const [user, status] of [
        ['admin', 200],
        ['viewer', 403],
      ] as const) {
        const issued = await request(`${demo.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: user }) });
        assert.equal(issued.statusCode, 201);
        const { access_token } = (await issued.body.json()) as { access_token: string };
        const res = await request(`${demo.url}/api/v2/dags/example_etl/dagRuns`, {
          method: 'POST',
          headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ dag_run_id: `curl_by_${user}`, logical_date: null }),
        });
        assert.equal(res.statusCode, status, `${user}'s own token triggers`);
        const body = (await res.body.json()) as { triggered_by?: string; detail?: string };
        assert.deepEqual(status === 200 ? body.triggered_by : body, status === 200 ? 'admin' : { detail: 'Forbidden' });
      }
    }

    demo.proc.kill('SIGTERM');
    assert.equal(await demo.exit, 0, `stderr: ${demo.stderr()}`);
  });
}
