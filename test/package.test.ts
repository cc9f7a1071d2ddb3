import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';

// What `npm pack` would publish, and whether that alone runs the gateway.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
/** Tools for building, testing and the demo: never needed to run the gateway. */
const DEV_ONLY = ['oidc-provider', 'koa', 'typescript', 'playwright-core', 'ws', 'fast-check', 'parse-prometheus-text-format', 'eslint', 'prettier', 'typescript-eslint'];
const isDevOnly = (name: string) => DEV_ONLY.includes(name) || name.startsWith('@types/') || name.startsWith('@typescript-eslint/');

let files: string[] = [];

before(async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
});

test('npm pack lists only what a user runs: the gateway, its docs, README and package.json', () => {
  assert.ok(files.length > 50, `a real file list (${files.length})`);
  for (const f of files) {
    assert.match(f, /^(package\.json|README\.md|LICENSE(\.\w+)?|docs\/.+|examples\/.+|dist\/src\/.+)$/, `${f} is something a user runs or reads`);
    assert.doesNotMatch(f, /(^|\/)(sim|test|tests|bench|scripts|node_modules|\.ci)(\/|$)|\.test\.|\.ts$/, `${f}: no simulator, test, benchmark or source file`);
  }
  for (const f of ['package.json', 'README.md', 'dist/src/index.js', 'dist/src/cli/main.js', 'dist/src/cli/demo.js', 'docs/config.md', 'docs/deploy.md']) assert.ok(files.includes(f), `${f} is shipped`);
});

/** Every module a compiled file imports: `import … from`, `export … from`, bare `import '…'`, and `import('…')` with a literal. */
function importsOf(source: string): { spec: string; dynamic: boolean }[] {
  const statics = [...source.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*(['"])([^'"\n]+)\1|^\s*import\s*(['"])([^'"\n]+)\3/gm)].map((m) => ({ spec: (m[2] ?? m[4])!, dynamic: false }));
  const dynamics = [...source.matchAll(/\bimport\(\s*(['"])([^'"\n]+)\1\s*\)/g)].map((m) => ({ spec: m[2]!, dynamic: true }));
  return [...statics, ...dynamics];
}

test('shipped code imports only Node built-ins, production dependencies and other shipped files; every production dependency is used', () => {
  const builtins = new Set(builtinModules);
  const used = new Set<string>();
  const optional: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    for (const { spec, dynamic } of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
      if (spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), spec));
        if (files.includes(target)) continue;
        // Only the demo may reach for what the package leaves out, and only on demand.
        assert.ok(dynamic && file === 'dist/src/cli/demo.js', `${file} imports ${spec}, which is not in the package`);
        optional.push(target);
        continue;
      }
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      assert.ok(name in pkg.dependencies, `${file} imports ${name}, which is not a production dependency`);
      used.add(name);
    }
  }
  assert.deepEqual(optional, ['dist/src/sim/demo-cluster.js']);
  assert.deepEqual(
    Object.keys(pkg.dependencies).filter((d) => !used.has(d)),
    [],
    'no unused production dependency',
  );
});

test('no production dependency, direct or transitive, is a development tool; the demo’s IdP is a devDependency', () => {
  for (const field of [pkg.dependencies, pkg.optionalDependencies ?? {}, pkg.peerDependencies ?? {}]) {
    assert.deepEqual(Object.keys(field).filter(isDevOnly), []);
  }
  assert.ok('oidc-provider' in pkg.devDependencies, 'a checkout’s `npm install` still brings the development IdP');
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  const production = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && !p.dev && !p.devOptional)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  assert.deepEqual(production.filter(isDevOnly), []);
  assert.ok(!production.includes('koa') && production.includes('undici'));
});

/**
 * Lay out the package as `npm install airgate` would: the packed files, and a node_modules holding
 * only the production dependencies (links into this checkout's; their own dependencies resolve there).
 */
function installed(t: TestContext, extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'airgate-pkg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of [...files, ...extra]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  }
  for (const dep of Object.keys(pkg.dependencies)) {
    mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  }
  return dir;
}

async function cli(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(dir, 'dist/src/cli/main.js'), ...args], { cwd: dir, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the packed files run on production dependencies alone; `airgate demo` says how to get the demo', async (t) => {
  const dir = installed(t);
  assert.deepEqual(await cli(dir, ['--version']), { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  const lib = (await import(join(dir, 'dist/src/index.js'))) as Record<string, unknown>;
  assert.equal(typeof lib.Gateway, 'function');
  assert.equal(typeof lib.loadConfigText, 'function');
  assert.ok(!('SimulatedAirflow' in lib), 'the simulator is not part of the library');

  const demo = await cli(dir, ['demo', '--port', '0']);
  assert.equal(demo.code, 1);
  assert.equal(demo.stdout, '');
  assert.match(demo.stderr, /^airgate demo needs the simulated Airflow and the development IdP/);
  assert.match(demo.stderr, /demo-cluster\.js/, 'names what is missing');
  assert.match(demo.stderr, /from a checkout of the airgate sources.*\n[\s\S]*npm install && npm start/);
});

test('a checkout installed without development dependencies: `airgate demo` names the missing oidc-provider', async (t) => {
  const dir = installed(t, ['dist/src/sim']);
  const demo = await cli(dir, ['demo', '--port', '0']);
  assert.equal(demo.code, 1);
  assert.match(demo.stderr, /Cannot find package 'oidc-provider'/);
  assert.match(demo.stderr, /npm install && npm start/);
});
