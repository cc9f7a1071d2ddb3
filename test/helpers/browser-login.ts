import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Debian's Chromium, headless, as every browser test starts it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

/** Log in as `user` through the gateway at `origin` and the development IdP's form (any password); returns the page back on the gateway. */
export async function loginThroughIdp(browser: Browser, origin: string, user: string, path = '/'): Promise<{ context: BrowserContext; page: Page; cookie: () => Promise<string> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}${path}`);
  await fillIdpLogin(page, origin, user);
  return { context, page, cookie: async () => (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') };
}

/** Sign in to the admin dashboard at `admin` through its form (the token never goes in a URL); the page ends on /dashboard. */
export async function signInToDashboard(page: Page, admin: string, token: string, name = ''): Promise<void> {
  await page.goto(`${admin}/dashboard`);
  await page.fill('input[name=token]', token);
  if (name) await page.fill('input[name=user]', name);
  // The form page is /dashboard too: wait for the GET after the sign-in's redirect, answered 200.
  const [res] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard' && r.request().method() === 'GET'), page.click('button[type=submit]')]);
  if (res.status() !== 200) throw new Error(`dashboard sign-in answered ${res.status()}`);
}

/** In `page`, which is at the development IdP: fill its login form (and consent) as `user`, and wait to be back on `origin`. */
export async function fillIdpLogin(page: Page, origin: string, user: string): Promise<void> {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', 'any-password');
  await page.click('button[type="submit"]');
  await page.waitForURL((u) => u.href.startsWith(origin) || u.pathname.includes('/interaction/'));
  if (!page.url().startsWith(origin)) {
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href.startsWith(origin));
  }
}
