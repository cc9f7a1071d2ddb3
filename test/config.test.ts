import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, loadConfigText } from '../src/config/load.js';
import { ConfigError, formatIssue } from '../src/config/config-error.js';

const ISSUE_EXAMPLE = `listeners:
  - name: public
    address: 127.0.0.1:8080
backends:
  airflow:
    servers:
      - { name: web-1, url: http://127.0.0.1:8081 }
      - { name: web-2, url: http://127.0.0.1:8082 }
routes:
  - path: /
    backend: airflow
`;

function errorsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfigText(yaml, 'airgate.yaml', { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map(formatIssue);
  }
  assert.fail('the configuration was accepted');
}

test('the document from the foundation issue is accepted exactly as written, with defaults filled in and frozen', () => {
  const cfg = loadConfigText(ISSUE_EXAMPLE, 'airgate.yaml');
  assert.deepEqual(cfg.listeners[0]!.address, { host: '127.0.0.1', port: 8080 });
  assert.equal(cfg.backends.airflow!.servers[1]!.url.origin, 'http://127.0.0.1:8082');
  assert.equal(cfg.backends.airflow!.servers[0]!.weight, 1);
  assert.equal(cfg.routes[0]!.timeouts.response_headers, 60_000);
  assert.equal(cfg.backends.airflow!.pool.keep_alive, 60_000);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.routes[0]) && Object.isFrozen(cfg.backends.airflow!.servers));
  assert.throws(() => {
    (cfg.routes as unknown as unknown[]).push({});
  }, TypeError);
});

test('durations, ${VAR} and ${VAR:-default} interpolation', () => {
  const yaml = ISSUE_EXAMPLE.replace('address: 127.0.0.1:8080', 'address: ${HOST:-127.0.0.1}:${PORT}') + `    timeouts: { response_headers: 3m, body_idle: 1.5s, request: "\${REQ_TIMEOUT:-500ms}" }\nshutdown: { grace: 2h }\n`;
  const cfg = loadConfigText(yaml, 'airgate.yaml', { env: { PORT: '9090' } });
  assert.deepEqual(cfg.listeners[0]!.address, { host: '127.0.0.1', port: 9090 });
  assert.equal(cfg.routes[0]!.timeouts.response_headers, 180_000);
  assert.equal(cfg.routes[0]!.timeouts.body_idle, 1500);
  assert.equal(cfg.routes[0]!.timeouts.request, 500);
  assert.equal(cfg.shutdown.grace, 7_200_000);
});

test('a plain ${VAR} that holds a number is typed as a number; $$ is a literal dollar', () => {
  const yaml = ISSUE_EXAMPLE.replace('{ name: web-1, url: http://127.0.0.1:8081 }', 'name: web-1\n        url: http://127.0.0.1:8081\n        weight: ${W}').replace('path: /\n', 'path: /a$$b\n');
  const cfg = loadConfigText(yaml, 'airgate.yaml', { env: { W: '7' } });
  assert.equal(cfg.backends.airflow!.servers[0]!.weight, 7);
  assert.equal(cfg.routes[0]!.path, '/a$b');
});

test('*_file keys read secrets from files relative to the config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-cfg-'));
  try {
    writeFileSync(join(dir, 'host.txt'), 'airflow.example.com\n');
    const file = join(dir, 'airgate.yaml');
    writeFileSync(file, ISSUE_EXAMPLE.replace('  - path: /\n', '  - path: /\n    host_file: host.txt\n'));
    assert.equal(loadConfigFile(file).routes[0]!.host, 'airflow.example.com');
    writeFileSync(file, ISSUE_EXAMPLE.replace('  - path: /\n', '  - path: /\n    host_file: missing.txt\n'));
    assert.throws(
      () => loadConfigFile(file),
      (err: ConfigError) => {
        assert.match(err.message, /airgate\.yaml:11:16: routes\[0\]\.host_file: cannot read secret file .*missing\.txt: ENOENT/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing file is reported with its name', () => {
  assert.throws(() => loadConfigFile('/nonexistent/airgate.yaml'), /\/nonexistent\/airgate\.yaml: cannot read the configuration file: ENOENT/);
});

// Each mistake: the YAML, and the exact line(s) `airgate check` prints for it.
const MISTAKES: [string, string, string[]][] = [
  [
    'unknown top-level key with a suggestion',
    ISSUE_EXAMPLE + 'routs: []\n',
    [
      'airgate.yaml:12:1: routs: unknown key "routs" (did you mean "routes"?); expected one of: listeners, backends, routes, trusted_proxies, access_log, audit_log, auth, policy, rate_limits, login_protection, store, limit_store_size, upstream, logging, workers, admin, shutdown',
    ],
  ],
  [
    'unknown nested key with a suggestion',
    ISSUE_EXAMPLE.replace('address:', 'adress:'),
    [
      'airgate.yaml:2:5: listeners[0].address: expected an address such as 127.0.0.1:8080, [::1]:8080 or :8080, found nothing',
      'airgate.yaml:3:5: listeners[0].adress: unknown key "adress" (did you mean "address"?); expected one of: name, address, timeouts, max_header_bytes, tls, http2, redirect_to_https, proxy_protocol, forwarded_hsts, drop_underscore_headers, client_body_min_rate, max_connections_per_ip, max_connections',
    ],
  ],
  ['bad address', ISSUE_EXAMPLE.replace('127.0.0.1:8080', 'localhost'), ['airgate.yaml:3:14: listeners[0].address: expected an address such as 127.0.0.1:8080, [::1]:8080 or :8080, found string "localhost"']],
  ['port out of range', ISSUE_EXAMPLE.replace('127.0.0.1:8080', '127.0.0.1:70000'), ['airgate.yaml:3:14: listeners[0].address: expected an address such as 127.0.0.1:8080, [::1]:8080 or :8080, found string "127.0.0.1:70000"']],
  [
    'server url without scheme',
    ISSUE_EXAMPLE.replace('url: http://127.0.0.1:8081', 'url: 127.0.0.1:8081'),
    ['airgate.yaml:7:29: backends.airflow.servers[0].url: expected an http:// or https:// URL with host and port only, such as http://10.0.0.5:8080, found string "127.0.0.1:8081"'],
  ],
  [
    'server url with a path',
    ISSUE_EXAMPLE.replace('url: http://127.0.0.1:8081', 'url: http://127.0.0.1:8081/airflow'),
    ['airgate.yaml:7:29: backends.airflow.servers[0].url: expected an http:// or https:// URL with host and port only, such as http://10.0.0.5:8080, found string "http://127.0.0.1:8081/airflow"'],
  ],
  ['route to an unknown backend', ISSUE_EXAMPLE.replace('backend: airflow', 'backend: airflw'), ['airgate.yaml:11:14: routes[0].backend: expected the name of a backend (airflow), found "airflw" (did you mean "airflow"?)']],
  ['route path without a slash', ISSUE_EXAMPLE.replace('path: /', 'path: api'), ['airgate.yaml:10:11: routes[0].path: expected a path prefix starting with "/" (no query or fragment), found string "api"']],
  ['duration without a unit', ISSUE_EXAMPLE + 'shutdown: { grace: 30 }\n', ['airgate.yaml:12:20: shutdown.grace: expected a duration such as 500ms, 2s or 5m, found number 30']],
  [
    'upstream keep-alive not below 120 s',
    ISSUE_EXAMPLE.replace('  airflow:\n', '  airflow:\n    pool: { keep_alive: 2m }\n'),
    ['airgate.yaml:6:25: backends.airflow.pool.keep_alive: expected a duration above 0 and below 120s (Airflow closes idle connections at 120s)'],
  ],
  ['duplicate server names', ISSUE_EXAMPLE.replace('name: web-2', 'name: web-1'), ['airgate.yaml:8:17: backends.airflow.servers[1].name: server name "web-1" appears twice in backend "airflow"']],
  ['duplicate listener names', ISSUE_EXAMPLE.replace('backends:', '  - name: public\n    address: 127.0.0.1:8081\nbackends:'), ['airgate.yaml:4:11: listeners[1].name: listener name "public" is already used by listeners[0]']],
  ['servers is not a list', ISSUE_EXAMPLE.replace(/ {4}servers:\n.*\n.*\n/, '    servers: web-1\n'), ['airgate.yaml:6:14: backends.airflow.servers: expected array, found string "web-1"']],
  ['no listeners', ISSUE_EXAMPLE.replace(/listeners:\n.*\n.*\n/, 'listeners: []\n'), ['airgate.yaml:1:12: listeners: expected at least one listener']],
  ['negative weight', ISSUE_EXAMPLE.replace('url: http://127.0.0.1:8082 }', 'url: http://127.0.0.1:8082, weight: -1 }'), ['airgate.yaml:8:60: backends.airflow.servers[1].weight: expected a number of at least 0, found number -1']],
  ['log level not in the list', ISSUE_EXAMPLE + 'logging: { level: verbose }\n', ['airgate.yaml:12:19: logging.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", found string "verbose"']],
  [
    'invalid server name',
    ISSUE_EXAMPLE.replace('name: web-2', 'name: "web 2"'),
    ['airgate.yaml:8:17: backends.airflow.servers[1].name: expected a name of letters, digits, ".", "_" or "-" (at most 63, starting with a letter or digit), found string "web 2"'],
  ],
  ['unset environment variable', ISSUE_EXAMPLE.replace('127.0.0.1:8080', '${LISTEN_ADDR}'), ['airgate.yaml:3:14: listeners[0].address: environment variable LISTEN_ADDR is not set and no default is given (write ${LISTEN_ADDR:-default})']],
  [
    'broken YAML',
    ISSUE_EXAMPLE.replace('  airflow:\n', '  airflow:\n   - x: [\n'),
    ['airgate.yaml:7:5: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]', 'airgate.yaml:7:5: invalid YAML: Sequence item without - indicator'],
  ],
  ['duplicate key', ISSUE_EXAMPLE + 'routes: []\n', ['airgate.yaml:12:1: routes: duplicate key "routes": it already appears at line 9; a key may appear once in a mapping']],
  [
    'duplicate nested key',
    ISSUE_EXAMPLE.replace('    backend: airflow\n', '    backend: airflow\n    backend: other\n'),
    ['airgate.yaml:12:5: routes[0].backend: duplicate key "backend": it already appears at line 11; a key may appear once in a mapping'],
  ],
  ['both a key and its _file variant', ISSUE_EXAMPLE.replace('  - path: /\n', '  - path: /\n    host: a.example.com\n    host_file: host.txt\n'), ['airgate.yaml:12:16: routes[0].host_file: give either host or host_file, not both']],
  ['a scalar instead of a mapping', 'just text\n', ['airgate.yaml:1:1: expected a mapping with listeners, backends and routes, found another kind of document']],
  ['an Airflow 3 token ttl out of range', ISSUE_EXAMPLE + 'auth: { airflow3_token: { ttl: 2h } }\n', ['airgate.yaml:12:32: auth.airflow3_token.ttl: expected a ttl between 30s and 1h (a few minutes is right)']],
  ['an unknown Airflow 3 token preset', ISSUE_EXAMPLE + 'auth: { airflow3_token: { preset: fab } }\n', ['airgate.yaml:12:35: auth.airflow3_token.preset: expected one of "airgate-auth-manager", "simple-auth-manager", found string "fab"']],
  [
    'an extra JWKS file that cannot be read',
    ISSUE_EXAMPLE + 'auth: { assertion: { extra_jwks: [/nonexistent/jwks.json] } }\n',
    ['airgate.yaml:12:35: auth.assertion.extra_jwks[0]: expected a readable JWKS file (JSON {"keys": [...]}): ENOENT: no such file or directory, open \'/nonexistent/jwks.json\''],
  ],
  ['duplicate routes', ISSUE_EXAMPLE + '  - path: /\n    backend: airflow\n', ['airgate.yaml:12:11: routes[1].path: route for host (any) and path / duplicates routes[0]']],
];

for (const [name, yaml, expected] of MISTAKES) {
  test(`config mistake: ${name}`, () => {
    assert.deepEqual(errorsOf(yaml), expected);
  });
}

test('every shape problem in a file is reported at once; cross-references are checked once the shape is right', () => {
  const yaml = ISSUE_EXAMPLE.replace('address:', 'adress:').replace('backend: airflow', 'backend: nope') + 'shutdown: { grace: soon }\n';
  const errors = errorsOf(yaml);
  assert.equal(errors.length, 3);
  assert.ok(errors.some((e) => e.includes('listeners[0].adress')) && errors.some((e) => e.includes('shutdown.grace')));
  const fixed = errorsOf(yaml.replace('adress:', 'address:').replace('grace: soon', 'grace: 1s'));
  assert.deepEqual(fixed, ['airgate.yaml:11:14: routes[0].backend: expected the name of a backend (airflow), found "nope"']);
});

test('upstream.client: lean by default, undici when asked; AIRGATE_UPSTREAM_CLIENT changes only the default and must name a client', () => {
  const saved = process.env.AIRGATE_UPSTREAM_CLIENT;
  try {
    delete process.env.AIRGATE_UPSTREAM_CLIENT;
    const plain = loadConfigText(ISSUE_EXAMPLE, 'airgate.yaml');
    assert.equal(plain.upstream.client, 'lean');
    assert.equal(plain.backends.airflow!.pool.client, 'lean');
    assert.equal(loadConfigText(`upstream: { client: undici }\n${ISSUE_EXAMPLE}`, 'airgate.yaml').backends.airflow!.pool.client, 'undici');
    process.env.AIRGATE_UPSTREAM_CLIENT = 'undici';
    assert.equal(loadConfigText(ISSUE_EXAMPLE, 'airgate.yaml').upstream.client, 'undici');
    assert.equal(loadConfigText(`upstream: { client: lean }\n${ISSUE_EXAMPLE}`, 'airgate.yaml').upstream.client, 'lean');
    process.env.AIRGATE_UPSTREAM_CLIENT = 'nginx';
    assert.deepEqual(errorsOf(ISSUE_EXAMPLE), ['airgate.yaml:1:1: upstream.client: expected lean or undici in AIRGATE_UPSTREAM_CLIENT, found "nginx"']);
  } finally {
    if (saved === undefined) delete process.env.AIRGATE_UPSTREAM_CLIENT;
    else process.env.AIRGATE_UPSTREAM_CLIENT = saved;
  }
});
