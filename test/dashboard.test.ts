import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Agent, request } from 'undici';
import { startGateway, startSims } from './helpers/gateway.js';
import type { Gateway } from '../src/server/gateway.js';
import type { SimulatedAirflow } from '../src/sim/airflow-sim.js';

// The compiled test is dist/test/dashboard.test.js. The committed docs/dashboard.png is refreshed
// with AIRGATE_UPDATE_SCREENSHOT=1; ordinary runs write the screenshot to a temp file and check it.
const SCREENSHOT = process.env.AIRGATE_UPDATE_SCREENSHOT === '1' ? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url)) : join(tmpdir(), `airgate-dashboard-${process.pid}.png`);
const TOKEN = 'dashboard-test-token-123';
const AUDIT = join(tmpdir(), `airgate-dashboard-audit-${process.pid}.log`);
/** How long the page may take to show a change: one health check, one 1 s poll, and slack. */
const SHOWN_WITHIN = 6000;

let sims: SimulatedAirflow[] = [];
let gateway: Gateway | undefined;
let url = '';
let admin = '';
let browser: Browser | undefined;
const http = new Agent({ keepAliveTimeout: 1000, headersTimeout: 5000, bodyTimeout: 5000 });

before(async () => {
  sims = await startSims(3);
  const started = await startGateway(`listeners:
  - { name: public, address: 127.0.0.1:0 }
admin: { address: 127.0.0.1:0, token: "${TOKEN}" }
access_log: { enabled: false }
audit_log: { destination: ${AUDIT} }
backends:
  airflow:
    balance: round-robin
    health: { interval: 100ms, timeout: 200ms, rise: 1, fall: 1, jitter: 0% }
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - path: /
    backend: airflow
    timeouts: { response_headers: 1s }
`);
  gateway = started.gateway;
  url = started.url;
  assert.ok(gateway.admin, 'the admin listener is configured');
  admin = `http://127.0.0.1:${gateway.admin.port}`;
  // Some traffic first, so every server has served requests and a latency estimate.
  for (let i = 0; i < 60; i++) {
    const res = await request(`${url}/health`, { dispatcher: http });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

/** Until `file` exists and matches `re` (the audit destination writes asynchronously). */
async function waitForFile(file: string, re: RegExp): Promise<void> {
  const deadline = Date.now() + SHOWN_WITHIN;
  while (!(existsSync(file) && re.test(readFileSync(file, 'utf8')))) {
    if (Date.now() > deadline) assert.fail(`${file} never matched ${re}`);
    await delay(5); // polling an asynchronous file write
  }
}

after(async () => {
  rmSync(AUDIT, { force: true });
  await browser?.close();
  await gateway?.stop(0);
  await Promise.all(sims.map((s) => s.stop()));
  await http.close();
});

/** A fresh browser context with a laptop-sized viewport, signed in through the sign-in form. */
async function openDashboard(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const form = await page.goto(`${admin}/dashboard`);
  assert.equal(form?.status(), 401, 'without the cookie: the sign-in form');
  await page.fill('input[name=token]', TOKEN);
  await page.fill('input[name=user]', 'erin');
  const [res] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard' && r.request().method() === 'GET'), page.click('button[type=submit]')]);
  assert.equal(res.status(), 200, 'the sign-in ends on the dashboard');
  assert.equal(new URL(page.url()).pathname, '/dashboard');
  assert.equal(new URL(page.url()).search, '', 'no token in the address bar');
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // Every failed request, by URL (the browser's own favicon probe apart: the admin API has none).
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console error: ${msg.text()}`);
  });
  return { context, page, problems };
}

/**
 * Requests through the gateway until `stop()`, paced so the charts show a steady rate while
 * the page is open. Errors (requests held by a hung server) are expected and ignored.
 */
function backgroundTraffic(): { stop: () => Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const res = await request(`${url}/health`, { dispatcher: http });
        await res.body.dump();
      } catch {
        // a request caught by the hang fault; the next one goes elsewhere
      }
      await delay(15); // pacing of the load generator, not synchronisation
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** The little of the DOM the in-page functions use (the project compiles without the DOM lib). */
interface DomLike {
  document: { querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }> };
}

const row = (page: Page, server: string) => page.locator(`.card[data-backend="airflow"] tr[data-server="${server}"]`);
const badge = (page: Page, server: string, state: string) => row(page, server).locator('[data-role=state]', { hasText: new RegExp(`^${state}$`) });
const server = (name: string) => gateway!.runtime.backends.get('airflow')!.server(name)!;

test('/dashboard without the cookie answers 401 with a sign-in form; a token in the URL signs nobody in; the form sets HttpOnly SameSite=Strict cookies', async () => {
  const bare = await request(`${admin}/dashboard`, { dispatcher: http });
  assert.equal(bare.statusCode, 401);
  assert.match(String(bare.headers['content-type']), /^text\/html/);
  assert.equal(bare.headers['set-cookie'], undefined);
  assert.match(await bare.body.text(), /<form method="post" action="\/dashboard\/login">[\s\S]*type="password" name="token"/);

  const inUrl = await request(`${admin}/dashboard?token=${TOKEN}`, { dispatcher: http });
  assert.equal(inUrl.statusCode, 401, 'the token in a URL (history, logs) no longer signs in');
  assert.equal(inUrl.headers['set-cookie'], undefined);
  await inUrl.body.dump();

  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const wrong = await request(`${admin}/dashboard/login`, { dispatcher: http, method: 'POST', headers: form, body: 'token=not-the-token' });
  assert.equal(wrong.statusCode, 401, 'a wrong token neither signs in nor shows the page');
  assert.equal(wrong.headers['set-cookie'], undefined);
  assert.match(await wrong.body.text(), /That is not the admin token/);

  const bearer = await request(`${admin}/dashboard`, { dispatcher: http, headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(bearer.statusCode, 200, 'the bearer token also opens the page');
  assert.match(await bearer.body.text(), /<title>airgate dashboard<\/title>/);

  const signIn = await request(`${admin}/dashboard/login`, { dispatcher: http, method: 'POST', headers: form, body: `token=${encodeURIComponent(TOKEN)}&user=frank` });
  await signIn.body.dump();
  assert.equal(signIn.statusCode, 303);
  assert.equal(signIn.headers.location, '/dashboard');
  const cookies = [signIn.headers['set-cookie']].flat().map(String);
  assert.match(cookies[0]!, /^airgate_admin=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.equal(cookies[1], 'airgate_operator=frank; Path=/; HttpOnly; SameSite=Strict');
  assert.ok(!cookies.join().includes(TOKEN), 'the cookie holds a hash of the token, not the token');
});

test('the dashboard shows the backend, its servers and charts, and follows a health failure and a drain live', async () => {
  const { context, page, problems } = await openDashboard();
  const traffic = backgroundTraffic();
  try {
    // The backend and its three servers, all up.
    await page.locator('.card[data-backend="airflow"]').waitFor({ timeout: SHOWN_WITHIN });
    assert.match((await page.locator('.card[data-backend="airflow"] h2').textContent()) ?? '', /^airflow round-robin/);
    assert.equal(await page.locator('.card[data-backend="airflow"] tr[data-server]').count(), 3);
    for (const s of sims) {
      await badge(page, s.name, 'up').waitFor({ timeout: SHOWN_WITHIN });
      assert.match((await row(page, s.name).textContent()) ?? '', new RegExp(s.url.replace(/[.]/g, '\\.')));
      // One request-rate sparkline (blue) and one error-rate sparkline (red) per server.
      const reqLine = row(page, s.name).locator('svg path[stroke="#2563eb"]');
      assert.equal(await reqLine.count(), 1, `${s.name} has a request-rate sparkline`);
      assert.match((await reqLine.getAttribute('d')) ?? '', /^M[\d.]+ [\d.]+/);
      assert.equal(await row(page, s.name).locator('svg path[stroke="#dc2626"]').count(), 1, `${s.name} has an error-rate sparkline`);
      assert.equal(await row(page, s.name).locator('button[data-act=drain]').count(), 1);
    }
    // The charts have data: with traffic flowing, some row shows a request rate above zero.
    await page
      .locator('tr[data-server] span.num', { hasText: /^(?!0\.0\/s)\d+\.\d\/s$/ })
      .first()
      .waitFor({ timeout: SHOWN_WITHIN });
    // The request-rate line has several points once a few polls happened.
    await page.waitForFunction((selector) => Array.from((globalThis as unknown as DomLike).document.querySelectorAll(selector)).every((p) => (p.getAttribute('d')?.match(/L/g) ?? []).length >= 2), 'tr[data-server] svg path[stroke="#2563eb"]', {
      timeout: SHOWN_WITHIN,
    });

    // Mark the document: if the page reloaded, the mark would be gone.
    await page.evaluate(() => {
      (globalThis as Record<string, unknown>).__airgateTestMark = 42;
    });

    // web-1 stops answering its health checks: the page shows it down without a reload.
    sims[0]!.setFaults({ hang: true });
    await badge(page, 'web-1', 'down').waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(server('web-1').health, 'down');

    // Drain web-2 with its button: the page shows the drain, and the gateway applied it.
    await row(page, 'web-2').locator('button[data-act=drain]').click({ timeout: SHOWN_WITHIN });
    await badge(page, 'web-2', 'drain').waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(server('web-2').admin, 'drain');
    // The audit log names the operator who signed in to the dashboard.
    await waitForFile(AUDIT, /"action":"server\.drain"/);
    const drained = readFileSync(AUDIT, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.action === 'server.drain')!;
    assert.deepEqual([drained.server, drained.user, drained.auth, drained.from, drained.to], ['web-2', 'erin', 'admin-cookie', 'ready', 'drain']);
    await row(page, 'web-2').locator('button[data-act=ready]').waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await row(page, 'web-2').locator('button[data-act=drain]').count(), 0, 'a drained server offers Enable, not Drain');
    await badge(page, 'web-3', 'up').waitFor({ timeout: SHOWN_WITHIN });

    // The events list shows the health transition and the drain.
    await page
      .locator('#events li', { hasText: /airflow\/web-1 \w+ → down/ })
      .first()
      .waitFor({ timeout: SHOWN_WITHIN }); // a loaded machine may see web-1 go down more than once
    await page.locator('#events li', { hasText: 'airflow/web-2 set to drain (was ready)' }).waitFor({ timeout: SHOWN_WITHIN });
    assert.match((await page.locator('#events li', { hasText: 'set to drain' }).textContent()) ?? '', /admin/);

    assert.equal(await page.evaluate(() => (globalThis as Record<string, unknown>).__airgateTestMark), 42, 'the page was not reloaded');
    assert.equal((await page.locator('#error').textContent()) ?? '', '', 'the page shows no error');
    assert.match((await page.locator('#updated').textContent()) ?? '', /^updated /);
    assert.deepEqual(problems, []);

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(png.length > 10_000 && png.subarray(1, 4).toString() === 'PNG', 'a real screenshot was taken');
    if (process.env.AIRGATE_UPDATE_SCREENSHOT !== '1') rmSync(SCREENSHOT, { force: true });
  } finally {
    await traffic.stop();
    await context.close();
  }
});

test('a write with the dashboard cookie but without the x-airgate-dashboard header is refused', async () => {
  const { context, page } = await openDashboard();
  try {
    await page.locator('.card[data-backend="airflow"]').waitFor({ timeout: SHOWN_WITHIN });
    const cookie = (await context.cookies(admin)).find((c) => c.name === 'airgate_admin');
    assert.ok(cookie, 'the browser holds the dashboard cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    const headers = { cookie: `airgate_admin=${cookie.value}`, 'content-type': 'application/json' };

    // The cookie is enough to read.
    const status = await request(`${admin}/status`, { dispatcher: http, headers: { cookie: headers.cookie } });
    assert.equal(status.statusCode, 200);
    await status.body.dump();

    // A write needs the dashboard's header as well (a cross-site form cannot set it).
    const refused = await request(`${admin}/backends/airflow/servers/web-3`, { dispatcher: http, method: 'POST', headers, body: '{"state":"maint"}' });
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(await refused.body.json(), { error: 'a valid admin bearer token is required' });
    assert.equal(server('web-3').admin, 'ready', 'the refused write changed nothing');

    const wrongHeader = await request(`${admin}/backends/airflow/servers/web-3`, { dispatcher: http, method: 'POST', headers: { ...headers, 'x-airgate-dashboard': '0' }, body: '{"state":"maint"}' });
    assert.equal(wrongHeader.statusCode, 401);
    await wrongHeader.body.dump();
    assert.equal(server('web-3').admin, 'ready');

    // With the header, the same cookie may write (a no-op weight change here).
    const allowed = await request(`${admin}/backends/airflow/servers/web-3`, { dispatcher: http, method: 'POST', headers: { ...headers, 'x-airgate-dashboard': '1' }, body: '{"weight":1}' });
    assert.equal(allowed.statusCode, 200);
    assert.equal(((await allowed.body.json()) as { weight: number }).weight, 1);
  } finally {
    await context.close();
  }
});
