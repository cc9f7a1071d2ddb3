import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { chromium } from 'playwright-core';
import { TestPki } from './helpers/certs.js';
import { basicYaml, startGateway, startSims } from './helpers/gateway.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TOKEN = 'expiry-admin-token';
let pki: TestPki;

before(() => {
  pki = new TestPki();
});
after(() => pki.cleanup());

function tlsYaml(sims: Awaited<ReturnType<typeof startSims>>, pairs: { cert: string; key: string }[]): string {
  return basicYaml(sims, {
    listener: ['    tls:', '      certificates:', ...pairs.map((p) => `        - { cert: ${p.cert}, key: ${p.key} }`)].join('\n'),
    top: `admin: { address: 127.0.0.1:0, token: ${TOKEN} }`,
  });
}

test('airgate check warns about a certificate that expires within 14 days, and not about one that does not', async () => {
  const soon = pki.issue('soon', ['soon.example.test'], { days: 10 });
  const later = pki.issue('later', ['later.example.test'], { days: 90 });
  const dir = mkdtempSync(join(tmpdir(), 'airgate-expiry-'));
  const file = join(dir, 'airgate.yaml');
  writeFileSync(file, tlsYaml([], [soon, later]).replace('servers:\n', 'servers:\n      - { name: web-1, url: http://127.0.0.1:9 }\n'));
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'check', '-c', file], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
  });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^certificates:$/m);
  assert.match(out.stdout, /^ {2}public: later\.example\.test \(.*later\.pem\) expires .*, in (89|90) days$/m);
  assert.match(out.stdout, /^warning: certificate soon\.example\.test of listener public \(.*soon\.pem\) expires in (9|10) days$/m);
  assert.doesNotMatch(out.stdout, /warning: certificate later/);
});

test('every served certificate has airgate_certificate_expiry_seconds{listener,name} and appears in /status for the dashboard', async () => {
  const a = pki.issue('exp-a', ['a.example.test'], { days: 10 });
  const b = pki.issue('exp-b', ['b.example.test'], { days: 90 });
  const sims = await startSims(1);
  const gw = await startGateway(tlsYaml(sims, [a, b]));
  const agent = new Agent();
  try {
    const admin = `http://127.0.0.1:${gw.gateway.admin!.port}`;
    const metrics = await (await request(`${admin}/metrics`, { dispatcher: agent, headers: { authorization: `Bearer ${TOKEN}` } })).body.text();
    const value = (name: string) => Number(new RegExp(`^airgate_certificate_expiry_seconds\\{listener="public",name="${name.replace(/\./g, '\\.')}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(Math.abs(value('a.example.test') - 10 * 86400) < 3600, metrics);
    assert.ok(Math.abs(value('b.example.test') - 90 * 86400) < 3600);
    const status = (await (await request(`${admin}/status`, { dispatcher: agent, headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { certificates: { listener: string; name: string; expiresInSeconds: number }[] };
    assert.deepEqual(
      status.certificates.map((c) => [c.listener, c.name]),
      [
        ['public', 'a.example.test'],
        ['public', 'b.example.test'],
      ],
    );
    assert.ok(Math.abs(status.certificates[0]!.expiresInSeconds - 10 * 86400) < 3600);

    // The dashboard draws them: the one under 14 days in red.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => errors.push(m.text()));
      await page.goto(`${admin}/dashboard`); // the sign-in form
      await page.fill('input[name=token]', TOKEN);
      await page.fill('input[name=user]', 'erin');
      const [signedIn] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard' && r.request().method() === 'GET'), page.click('button[type=submit]')]);
      assert.equal(signedIn.status(), 200);
      const soon = page.locator('#certificates li[data-certificate="a.example.test"]');
      await soon.waitFor({ timeout: 10_000 }).catch((err: Error) => {
        throw new Error(`${err.message}; page errors: ${errors.join(' | ')}`);
      });
      assert.match((await soon.textContent())!, /public · expires .*a\.example\.test (9|10) d/);
      assert.equal(await soon.locator('.badge').getAttribute('class'), 'badge s-down');
      assert.equal(await page.locator('#certificates li[data-certificate="b.example.test"] .badge').getAttribute('class'), 'badge s-up');
    } finally {
      await browser.close();
    }
  } finally {
    await agent.close();
    await gw.gateway.stop(0);
    await Promise.all(sims.map((s) => s.stop()));
  }
});
