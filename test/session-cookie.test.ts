import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SealedCookies } from '../src/auth/session-cookie.js';
import { sameOriginPath } from '../src/auth/authenticator.js';
import { mapRole } from '../src/auth/identity.js';

const OLD = 'old-session-key-0123456789abcdef0123456789';
const NEW = 'new-session-key-0123456789abcdef0123456789';
const soon = () => Math.floor(Date.now() / 1000) + 600;

test('rotating the session key keeps existing sessions: the first key encrypts, all decrypt', async () => {
  const before = new SealedCookies([OLD], 'session');
  const cookie = await before.seal({ sid: 's1', sub: 'alice' }, soon());
  const after = new SealedCookies([NEW, OLD], 'session');
  assert.equal((await after.open<{ sub: string }>(cookie))?.sub, 'alice', 'an old cookie still opens');
  const fresh = await after.seal({ sid: 's2', sub: 'bob' }, soon());
  assert.equal((await new SealedCookies([NEW], 'session').open<{ sub: string }>(fresh))?.sub, 'bob', 'new cookies use the new key');
  assert.equal(await before.open(fresh), undefined, 'an instance without the new key cannot read them');
});

test('tampered, expired and foreign-key cookies are rejected', async () => {
  const ring = new SealedCookies([NEW], 'session');
  const cookie = await ring.seal({ sid: 's1', sub: 'alice' }, soon());
  const parts = cookie.split('.');
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  for (let i = 1; i < 5; i++) {
    const tampered = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
    assert.equal(await ring.open(tampered), undefined, `part ${i} tampered`);
  }
  const expired = await ring.seal({ sid: 's1' }, Math.floor(Date.now() / 1000) - 60);
  assert.equal(await ring.open(expired), undefined, 'expired');
  const foreign = await new SealedCookies(['someone-elses-key-0123456789abcdef0123'], 'session').seal({ sid: 'x' }, soon());
  assert.equal(await ring.open(foreign), undefined, 'foreign key');
  assert.equal(await ring.open('garbage'), undefined);
  assert.equal(await ring.open('x'.repeat(5000)), undefined, 'oversized');
});

test('post-login redirects stay on this origin', () => {
  const cases: [string | undefined, string][] = [
    ['/home?tab=1#x', '/home?tab=1#x'],
    ['/dags/team_a_etl/grid', '/dags/team_a_etl/grid'],
    ['//evil.example/x', '/'],
    ['https://evil.example/', '/'],
    ['/\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\r\nSet-Cookie: x=1', '/'],
    ['', '/'],
    [undefined, '/'],
  ];
  for (const [input, expected] of cases) assert.equal(sameOriginPath(input), expected, String(input));
});

test('role rules: first match wins, every condition of a rule must hold, a default otherwise', () => {
  const rules = [
    { role: 'Admin' as const, groups: ['airflow-admins'] },
    { role: 'Op' as const, groups: ['ops'], email_domains: ['example.com'] },
    { role: 'User' as const, claim: { name: 'dept', values: ['data'] } },
    { role: 'Viewer' as const, users: ['guest'] },
  ];
  const id = (o: Partial<{ user: string; email: string; groups: string[]; claims: Record<string, unknown> }>) => ({ user: 'u', email: undefined, groups: [], claims: {}, ...o });
  assert.equal(mapRole(rules, 'Public', id({ groups: ['airflow-admins', 'ops'], email: 'a@example.com' })), 'Admin');
  assert.equal(mapRole(rules, 'Public', id({ groups: ['ops'], email: 'a@example.com' })), 'Op');
  assert.equal(mapRole(rules, 'Public', id({ groups: ['ops'], email: 'a@other.org' })), 'Public', 'both conditions of the Op rule must hold');
  assert.equal(mapRole(rules, 'Public', id({ claims: { dept: ['sales', 'data'] } })), 'User');
  assert.equal(mapRole(rules, 'Public', id({ user: 'guest' })), 'Viewer');
  assert.equal(mapRole(rules, 'Public', id({})), 'Public');
});
