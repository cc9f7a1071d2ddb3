import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizePath } from '../src/policy/normalize.js';
import { dagScope, dagsFromBody } from '../src/policy/dag-sources.js';
import { PolicyEvaluator } from '../src/policy/evaluator.js';
import { canonicalHost } from '../src/core/host.js';
import { headerRules, upstreamRequestHeaders } from '../src/proxy/headers.js';
import { SealedCookies } from '../src/auth/session-cookie.js';

// Property tests of what parses client input: no input throws, and the properties the gateway's
// checks rely on hold for every input fast-check can think of. Bounded: a few thousand runs each.

const RUNS = { numRuns: 3000 };
/** Characters that matter in paths: separators, escapes, dots, case, unicode. */
const pathChar = fc.oneof(fc.constantFrom('/', '.', '%', '?', '#', '\\', ';', '~', 'a', 'A', 'd', 'g', 's', '_', '-', '2', 'e', 'F', 'f', '0', 'c'), fc.string({ maxLength: 1, unit: 'binary' }));
const pathLike = fc.array(pathChar, { maxLength: 40 }).map((cs) => `/${cs.join('')}`);
const anyString = fc.string({ maxLength: 200, unit: 'binary' });

test('normalizePath never throws, and what it returns normalizes to itself', () => {
  fc.assert(
    fc.property(fc.oneof(pathLike, anyString), (target) => {
      const n = normalizePath(target);
      if (!n.ok) return;
      const again = normalizePath(n.path + n.query);
      assert.ok(again.ok, `${JSON.stringify(target)} normalized to ${n.path} which is refused`);
      assert.equal(again.path, n.path);
      assert.ok(!n.path.includes('//') && !/\/\.\.?(\/|$)/.test(n.path), `dot segments or double slashes left in ${n.path}`);
    }),
    RUNS,
  );
});

/** Ways to write the same path: escapes of unreserved characters, case of escapes, dot segments, extra slashes. */
function disguise(path: string, choices: number[]): string {
  let out = '';
  let k = 0;
  for (const ch of path) {
    const c = choices[k++ % choices.length]!;
    if (ch === '/' && c % 5 === 0) out += '//';
    else if (ch === '/' && c % 7 === 0) out += '/./';
    else if (ch === '/' && c % 11 === 0) out += '/zz/../';
    else if (/[a-z0-9_~-]/i.test(ch) && c % 3 === 0) out += `%${ch.charCodeAt(0).toString(16)}`;
    else if (/[a-z0-9_~-]/i.test(ch) && c % 4 === 0) out += `%${ch.charCodeAt(0).toString(16).toUpperCase()}`;
    else out += ch;
  }
  return out;
}

test('a path that normalizes to a denied path is denied, however it is written', () => {
  const policy = new PolicyEvaluator([
    { name: 'deny-admin', effect: 'deny', match: { paths: ['/admin'] } },
    { name: 'deny-b', effect: 'deny', match: { dags: ['team_b_*'] } },
    { name: 'allow-all', effect: 'allow', match: {} },
  ]);
  const denied = fc.constantFrom('/admin', '/admin/', '/admin/users', '/ADMIN/x', '/dags/team_b_etl/grid', '/api/v1/dags/team_b_x/dagRuns', '/api/v2/dags/team_b_1');
  fc.assert(
    fc.property(denied, fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }), fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'), (path, choices, method) => {
      const n = normalizePath(disguise(path, choices));
      if (!n.ok) return; // refused outright: also safe
      const d = policy.decide({ host: 'a', path: n.path, method, dags: dagScope(method, n.path, n.query), user: undefined, email: undefined, groups: [], role: undefined, auth: 'none', source: '127.0.0.1' });
      assert.equal(d.allow, false, `${disguise(path, choices)} → ${n.path} was allowed`);
    }),
    RUNS,
  );
});

test('DAG-id extraction never throws, from any path, query or body', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE'),
      fc.oneof(pathLike, fc.constantFrom('/clear', '/paused', '/api/v2/backfills', '/api/v1/dags/~/dagRuns/list', '/dags/x/grid')),
      anyString,
      fc.constantFrom(undefined, 'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'),
      anyString,
      (method, path, query, type, body) => {
        const s = dagScope(method, path, `?${query}`);
        if (s.kind === 'body') {
          const r = dagsFromBody(s, type, Buffer.from(body, 'latin1'));
          assert.notEqual(r.kind, 'body');
        }
      },
    ),
    RUNS,
  );
});

test('a DAG rule denies a request naming a denied DAG in any parameter spelling Airflow decodes the same', () => {
  const policy = new PolicyEvaluator([
    { name: 'deny-b', effect: 'deny', match: { dags: ['team_b_*'] } },
    { name: 'allow-a', effect: 'allow', match: { dags: ['team_a_*'] } },
  ]);
  const key = fc.constantFrom('dag_id', 'dag%5Fid', 'dag%5fid', 'dag_ids', 'd%61g_id');
  fc.assert(
    fc.property(key, fc.constantFrom('/paused', '/graph', '/grid', '/clear'), fc.boolean(), (k, path, extraA) => {
      const query = `?${extraA ? 'dag_id=team_a_x&' : ''}${k}=team_b_y`;
      const method = path === '/clear' ? 'POST' : 'GET';
      let scope = dagScope(method, path, query);
      if (scope.kind === 'body') scope = dagsFromBody(scope, 'application/x-www-form-urlencoded', Buffer.alloc(0));
      const d = policy.decide({ host: 'a', path, method, dags: scope, user: undefined, email: undefined, groups: [], role: undefined, auth: 'none', source: '' });
      assert.equal(d.allow, false, `${method} ${path}${query}`);
    }),
    RUNS,
  );
});

test('header hygiene: no client identity or forwarding header, in any case or spelling, reaches Airflow', () => {
  const rules = headerRules(['X-Auth-User', 'X-Auth-Email', 'X-Auth-Roles', 'X-Auth-Groups', 'X-Airgate-Assertion', 'X-Auth-Encoding'], ['airgate_session', 'airgate_login']);
  const spelled = fc
    .tuple(
      fc.constantFrom('x-auth-user', 'x-auth-roles', 'x-airgate-assertion', 'x-auth-encoding', 'x-forwarded-prefix', 'forwarded', 'x-real-ip', 'x-forwarded-for', 'host', 'x-request-id'),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
    )
    .map(([name, upper, underscore]) => [...name].map((c, i) => (c === '-' && underscore[i] ? '_' : upper[i] ? c.toUpperCase() : c)).join(''));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.oneof(spelled, fc.string({ minLength: 1, maxLength: 12 })), fc.string({ maxLength: 20 })), { maxLength: 12 }), fc.boolean(), (pairs, drop) => {
      const raw = pairs.flat();
      const out = upstreamRequestHeaders(
        raw,
        { requestId: 'r1', peer: '127.0.0.1', trustXff: false, proto: 'http', port: '80', upstreamHost: undefined, upgrading: false, dropUnderscore: drop, dropAuthorization: false, identity: ['X-Auth-User', 'alice'] },
        rules,
      );
      const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replace(/_/g, '-'));
      assert.deepEqual(
        names.filter((n) => n === 'x-auth-user'),
        ['x-auth-user'],
        'only the gateway’s own identity header',
      );
      for (const n of ['x-auth-roles', 'x-airgate-assertion', 'x-auth-encoding', 'x-forwarded-prefix', 'forwarded', 'x-real-ip']) assert.ok(!names.includes(n), n);
      assert.equal(names.filter((n) => n === 'x-forwarded-for').length, 1);
      assert.equal(names.filter((n) => n === 'x-request-id').length, 1);
      if (drop) assert.ok(!out.some((n, i) => i % 2 === 0 && n.includes('_')));
    }),
    RUNS,
  );
});

test('canonicalHost never throws and is idempotent', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        anyString,
        fc.domain().map((d) => `${d}.:8080`),
        fc.constantFrom('[::1]:80', 'A.B.', '...', ':', '['),
      ),
      (h) => {
        const c = canonicalHost(h);
        assert.equal(canonicalHost(c), c);
        assert.equal(c, c.toLowerCase());
      },
    ),
    RUNS,
  );
});

test('sealed cookies: no string opens as a session, and a login cookie never does', async () => {
  const session = new SealedCookies(['fuzz-session-key-0123456789abcdef0123456789'], 'session');
  const login = new SealedCookies(['fuzz-session-key-0123456789abcdef0123456789'], 'login');
  const sealedLogin = await login.seal({ s: 'x', n: 'y', v: 'z', r: '/' }, Math.floor(Date.now() / 1000) + 60);
  assert.equal(await session.open(sealedLogin), undefined);
  const parts = sealedLogin.split('.');
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        anyString,
        fc.tuple(fc.nat(4), anyString).map(([i, s]) => parts.map((p, j) => (j === i ? s : p)).join('.')),
      ),
      async (token) => {
        assert.equal(await session.open(token), undefined);
      },
    ),
    { numRuns: 1000 },
  );
});
