import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../src/config/load.js';
import { Backend, FULL } from '../src/upstream/backend.js';
import { StickyCookies } from '../src/upstream/sticky.js';
import { ManualClock, seededRandom } from '../src/core/clock.js';
import { backendFromYaml, pickName } from './helpers/backend.js';

const OLD_KEY = 'old-key-0123456789abcdef';
const NEW_KEY = 'new-key-fedcba9876543210';
const HOUR = 3_600_000;
const TTL = 12 * HOUR;
/** A wall-clock time on a whole second, so the cookie's expiry (whole seconds) is exactly NOW + TTL. */
const NOW = Date.UTC(2025, 0, 15, 10, 0, 0);

const cookies = (keys: string[], name = 'airgate_node', backend = 'airflow') => new StickyCookies(backend, name, keys, TTL);
const header = (value: string, name = 'airgate_node') => `${name}=${value}`;

describe('StickyCookies', () => {
  test('sign then read returns the server and the expiry', () => {
    const c = cookies([NEW_KEY]);
    const value = c.sign('web-2', NOW);
    assert.deepEqual(c.read(header(value), NOW), { server: 'web-2', expiresAt: NOW + TTL });
    assert.deepEqual(c.read(header(value), NOW + TTL - 1), { server: 'web-2', expiresAt: NOW + TTL });
  });

  test('the cookie value names the server and carries no address', () => {
    const yaml = `listeners:\n  - name: public\n    address: 127.0.0.1:0\nbackends:\n  airflow:\n    sticky: { keys: ["${NEW_KEY}"] }\n    servers:\n      - { name: web-1, url: "http://10.20.30.40:8080" }\nroutes:\n  - path: /\n    backend: airflow\n`;
    const cfg = loadConfigText(yaml, 'test.yaml');
    const c = cookies([NEW_KEY]);
    const value = c.sign('web-1', NOW);
    assert.ok(value.startsWith('web-1~'), value);
    assert.equal(value.split('~').length, 3, value);
    const url = cfg.backends.airflow!.servers[0]!.url;
    for (const leak of [url.host, url.hostname, '8080', url.href]) assert.equal(value.includes(leak), false, `${value} contains ${leak}`);
    assert.match(value, /^[A-Za-z0-9._-]+~[0-9a-z]+~[A-Za-z0-9_-]+$/);
  });

  test('tampering with the name, the expiry or the mac makes the cookie invalid', () => {
    const c = cookies([NEW_KEY]);
    const value = c.sign('web-1', NOW);
    const [name, expiry, mac] = value.split('~') as [string, string, string];
    assert.ok(c.read(header(value), NOW), 'the original is valid');
    const later = (parseInt(expiry, 36) + 3600).toString(36);
    const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
    const tampered: Record<string, string> = {
      'other server': `web-2~${expiry}~${mac}`,
      'name with suffix': `${name}x~${expiry}~${mac}`,
      'later expiry': `${name}~${later}~${mac}`,
      'first mac character': `${name}~${expiry}~${flipped}`,
      'mac truncated': `${name}~${expiry}~${mac.slice(0, -2)}`,
      'mac missing': `${name}~${expiry}~`,
      'mac of another cookie': `${name}~${expiry}~${c.sign('web-2', NOW).split('~')[2]!}`,
      'extra part': `${value}~x`,
      'no separators': `${name}${expiry}${mac}`,
      empty: '',
    };
    for (const [what, v] of Object.entries(tampered)) assert.equal(c.read(header(v), NOW), undefined, `${what}: ${v}`);
    // The cache of verified values does not turn a tampered value valid on a second read.
    for (const [what, v] of Object.entries(tampered)) assert.equal(c.read(header(v), NOW), undefined, `${what} (again): ${v}`);
  });

  test('only the canonical mac is accepted (no padding, junk characters or other spare bits)', () => {
    const c = cookies([NEW_KEY]);
    const value = c.sign('web-1', NOW);
    assert.ok(c.read(header(value), NOW));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variants = [`${value}==`, `${value}=`, `${value.slice(0, -3)}!${value.slice(-3)}`, `${value.slice(0, -3)}.${value.slice(-3)}`];
    for (const ch of alphabet) if (ch !== value.at(-1)) variants.push(value.slice(0, -1) + ch);
    for (const v of variants) assert.equal(c.read(header(v), NOW), undefined, v);
  });

  test('an expired cookie is ignored', () => {
    const c = cookies([NEW_KEY]);
    const value = c.sign('web-1', NOW);
    assert.ok(c.read(header(value), NOW + TTL - 1));
    assert.equal(c.read(header(value), NOW + TTL), undefined);
    assert.equal(c.read(header(value), NOW + 30 * 24 * HOUR), undefined);
    // Also when it was never read (and cached) while valid.
    const fresh = cookies([NEW_KEY]);
    assert.equal(fresh.read(header(value), NOW + TTL + 1000), undefined);
  });

  test('key rotation: a cookie signed with [old] is read by an instance with keys [new, old]', () => {
    const before = cookies([OLD_KEY]);
    const after = cookies([NEW_KEY, OLD_KEY]);
    const value = before.sign('web-3', NOW);
    assert.equal(after.read(header(value), NOW)?.server, 'web-3');
    // New cookies are signed with the new key: an instance with only the old key rejects them.
    const renewed = after.sign('web-3', NOW);
    assert.notEqual(renewed, value);
    assert.equal(before.read(header(renewed), NOW), undefined);
    assert.equal(cookies([NEW_KEY]).read(header(renewed), NOW)?.server, 'web-3');
  });

  test('instances sharing the keys honour each other’s cookies', () => {
    const one = cookies([NEW_KEY, OLD_KEY]);
    const two = cookies([NEW_KEY, OLD_KEY]);
    const value = one.sign('web-1', NOW);
    assert.deepEqual(two.read(header(value), NOW + HOUR), { server: 'web-1', expiresAt: NOW + TTL });
    assert.equal(two.sign('web-1', NOW), value, 'same keys, same cookie');
  });

  test('a cookie signed with a foreign key, or for another backend, is ignored', () => {
    const mine = cookies([NEW_KEY, OLD_KEY]);
    const foreign = cookies(['someone-elses-key-0000000000']);
    assert.equal(mine.read(header(foreign.sign('web-1', NOW)), NOW), undefined);
    const otherBackend = cookies([NEW_KEY], 'airgate_node', 'other');
    assert.equal(mine.read(header(otherBackend.sign('web-1', NOW)), NOW), undefined);
  });

  test('the cookie is found among other cookies and not confused with xairgate_node', () => {
    const c = cookies([NEW_KEY]);
    const good = c.sign('web-1', NOW);
    const evil = c.sign('web-2', NOW);
    assert.equal(c.read(`a=1; airgate_node=${good}; b=2`, NOW)?.server, 'web-1');
    assert.equal(c.read(`a=1;airgate_node=${good};b=2`, NOW)?.server, 'web-1');
    assert.equal(c.read(`airgate_node=${good}`, NOW)?.server, 'web-1');
    assert.equal(c.read(`a=1; b=2; airgate_node=${good}`, NOW)?.server, 'web-1');
    // A validly signed value under another cookie name does not count.
    assert.equal(c.read(`xairgate_node=${evil}`, NOW), undefined);
    assert.equal(c.read(`xairgate_node=${evil}; airgate_node=${good}`, NOW)?.server, 'web-1');
    assert.equal(c.read(`a=1; b=2`, NOW), undefined);
    assert.equal(c.read(undefined, NOW), undefined);
    assert.equal(c.read('', NOW), undefined);
  });

  test('a custom cookie name is used for reading and setting', () => {
    const c = cookies([NEW_KEY], 'af_route');
    const value = c.sign('web-1', NOW);
    assert.equal(c.read(`airgate_node=${value}`, NOW), undefined);
    assert.equal(c.read(`af_route=${value}`, NOW)?.server, 'web-1');
    assert.ok(c.setCookie('web-1', NOW, false).startsWith('af_route=web-1~'));
  });

  test('setCookie: Path=/, Max-Age, HttpOnly, SameSite=Lax, and Secure only when asked', () => {
    const c = cookies([NEW_KEY]);
    const plain = c.setCookie('web-1', NOW, false);
    assert.equal(plain, `airgate_node=${c.sign('web-1', NOW)}; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax`);
    assert.doesNotMatch(plain, /Secure/);
    const secure = c.setCookie('web-1', NOW, true);
    assert.equal(secure, `${plain}; Secure`);
    // What a browser sends back is readable.
    const sentBack = plain.split(';')[0]!;
    assert.equal(c.read(sentBack, NOW)?.server, 'web-1');
  });

  test('needsRefresh once less than half the ttl is left', () => {
    const c = cookies([NEW_KEY]);
    const { expiresAt } = c.read(header(c.sign('web-1', NOW)), NOW)!;
    assert.equal(c.needsRefresh(expiresAt, NOW), false);
    assert.equal(c.needsRefresh(expiresAt, NOW + TTL / 2 - 1000), false);
    assert.equal(c.needsRefresh(expiresAt, NOW + TTL / 2 + 1000), true);
    assert.equal(c.needsRefresh(expiresAt, NOW + TTL - 1000), true);
  });
});

describe('sticky selection through Backend.select', () => {
  const open: Backend[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.destroy()));
  });

  function build(balance: string): { backend: Backend; clock: ManualClock } {
    const clock = new ManualClock(5_000);
    const backend = backendFromYaml(
      [
        `balance: ${balance}`,
        `sticky: { keys: ["${NEW_KEY}", "${OLD_KEY}"], ttl: 12h }`,
        'servers:',
        '  - { name: web-1, url: "http://127.0.0.1:1", max_connections: 2 }',
        '  - { name: web-2, url: "http://127.0.0.1:2", max_connections: 2 }',
        '  - { name: web-3, url: "http://127.0.0.1:3", max_connections: 2 }',
      ],
      { clock, random: seededRandom(3) },
    );
    open.push(backend);
    return { backend, clock };
  }

  /** The server a request carrying `cookie` goes to, as the proxy resolves it. */
  function route(backend: Backend, cookie: string): string {
    const stickyName = backend.sticky!.read(cookie, NOW)?.server;
    return pickName(backend, undefined, undefined, stickyName);
  }

  for (const balance of ['round-robin', 'least-conn', 'random-two', 'peak-ewma']) {
    test(`${balance}: a cookie naming an available server wins over the balancer`, () => {
      const { backend } = build(balance);
      assert.equal(backend.sticky!.cookieName, 'airgate_node');
      const cookie = `a=1; ${backend.sticky!.setCookie('web-2', NOW, false).split(';')[0]!}; b=2`;
      for (let i = 0; i < 50; i++) assert.equal(route(backend, cookie), 'web-2');
      // Without the cookie the balancer spreads the load.
      const seen = new Set(Array.from({ length: 50 }, () => route(backend, 'a=1')));
      assert.ok(seen.size >= 2, [...seen].join(','));
    });
  }

  test('a cookie naming an ejected, drained (weight 0) or full server is ignored', () => {
    const { backend, clock } = build('round-robin');
    const web2 = backend.server('web-2')!;
    const cookie = header(backend.sticky!.sign('web-2', NOW));
    const others = (what: string) => {
      for (let i = 0; i < 20; i++) {
        const name = route(backend, cookie);
        assert.ok(name === 'web-1' || name === 'web-3', `${what}: went to ${name}`);
      }
    };

    web2.eject(clock.now() + 30_000, 1);
    others('ejected');
    clock.advance(30_000);
    assert.equal(route(backend, cookie), 'web-2', 'back after the ejection');

    web2.setWeight(0);
    others('weight 0');
    web2.setWeight(1);
    assert.equal(route(backend, cookie), 'web-2');

    const leases = [backend.acquire(web2), backend.acquire(web2)]; // max_connections: 2
    others('full');
    leases[0]!.release();
    assert.equal(route(backend, cookie), 'web-2', 'room again after a release');
  });

  test('a retry excluding the sticky server goes elsewhere', () => {
    const { backend } = build('least-conn');
    const web2 = backend.server('web-2')!;
    const r = backend.select('web-2', undefined, [web2]);
    assert.ok(r !== undefined && r !== FULL);
    assert.notEqual(r.name, 'web-2');
  });

  test('a cookie naming a server that no longer exists falls back to the balancer', () => {
    const { backend } = build('round-robin');
    const name = route(backend, header(backend.sticky!.sign('web-9', NOW)));
    assert.ok(['web-1', 'web-2', 'web-3'].includes(name), name);
  });
});
