/**
 * airgate throughput / CPU bench.
 *
 * Measures, in one run and on loopback only, wrk (-t1, HTTP/1.1 keep-alive, 12-byte body) at
 * -c64 and at -c8 (BENCH_CONNECTIONS) against:
 *   direct          the upstream nginx itself
 *   hello           a bare node:http server (the runtime's floor)
 *   haproxy         HAProxy, one thread, in front of the upstream
 *   nginx-proxy     nginx, one worker, proxy_pass with a keep-alive pool
 *   undici-minimal  the least a correct node:http + undici proxy does (bench/undici-minimal-proxy.ts)
 *   airgate         the gateway, one process, the default upstream client
 *   airgate-undici  the same with `upstream: { client: undici }`
 *   airgate-full    the gateway with every feature switched on (see fullFeaturesConfig)
 *   airgate-full-airflow3  the same on an Airflow 3 backend (a minted token per session)
 *   airgate-2-workers, airgate-policy-1, airgate-policy-1000, airgate-full-nolog
 *
 * For each target and concurrency it records req/s, p50/p99 latency and the CPU time per request
 * of the measured process; it prints them side by side per concurrency with the comparisons
 * (CPU ratios, p99 differences) and the goals of issue #21, and writes
 * bench/results/latest.{json,md}. Goals: airgate CPU/req <= 2.0 x hello at -c64 and <= 2.2 x at
 * -c8; airgate-full <= 2.5 x hello; airgate p99 within 0.3 ms of HAProxy's at -c8; airgate
 * <= 1.15 x undici-minimal; airgate-full <= 1.25 x airgate (the last three at -c64).
 *
 * `npm run bench` runs it on Node 24 (scripts/bench.sh) when the machine's Node is older.
 *
 * Environment:
 *   BENCH_DURATION     seconds per target and concurrency (default 5)
 *   BENCH_WARMUP       warm-up seconds before each measurement (default 1)
 *   BENCH_CONNECTIONS  comma-separated wrk -c values (default 64,8)
 *   BENCH_TARGETS      comma-separated subset of targets to run (default all)
 *   BENCH_ROUNDS       rounds over every target (default 3); each row reports the round with the
 *                      median CPU µs/req, so a burst of load from elsewhere on the machine moves
 *                      one round of one row, not the result
 *   AIRGATE_UPSTREAM_CLIENT  passed through: it changes the default client of the airgate rows
 *                      (airgate-undici sets its client in the config); recorded in the report
 *
 * Exit code 0 whenever the bench ran (a missed goal is reported, not asserted); 1 when it
 * could not run; 2 when a tool is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { airgateConfig, airgateUndiciConfig, BENCH_SESSION_KEY, BENCH_STICKY_KEY, policyConfig, fullFeaturesAirflow3Config, fullFeaturesConfig, haproxyConfig, nginxProxyConfig, nginxUpstreamConfig, type NginxPaths } from './configs.js';
import { clockTicksPerSecond, commandOutput, freePort, ProcessRegistry, waitForPort } from './processes.js';
import { buildReport, medianRounds, type Environment, type TargetResult } from './report.js';
import { renderMarkdown, renderText } from './render.js';
import { killRunningWrk } from './wrk.js';
import { measure, WRK_THREADS, type Started, type Target } from './measure.js';
import { BenchSetupError, checkHello, connectionsFromEnv, countFromEnv, findTools, firstMatch, nginxTempModules, nproc, secondsFromEnv } from './setup.js';
import { StickyCookies } from '../src/upstream/sticky.js';
import { SealedCookies } from '../src/auth/session-cookie.js';
import { DevIdp } from '../src/sim/dev-idp.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = resolve(here, '..', '..');
const resultsDir = join(repoRoot, 'bench', 'results');
const gatewayMain = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const helloServer = join(here, 'hello-server.js');
const minimalProxy = join(here, 'undici-minimal-proxy.js');
/**
 * Both airgate rows get the same valid sticky cookie, so they parse and forward the same bytes and
 * the difference between them is the cost of the features alone.
 */
const BENCH_STICKY_COOKIE = `airgate_node=${new StickyCookies('airflow', 'airgate_node', [BENCH_STICKY_KEY], 43_200_000).sign('web-1', Date.now())}`;

/** A signed-in browser's cookies: the sticky cookie and an airgate session (as a login would seal it). */
async function benchCookies(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const session = await new SealedCookies([BENCH_SESSION_KEY], 'session').seal({ sid: 'bench-session', sub: 'alice', user: 'alice', email: 'alice@example.com', groups: ['airflow-admins'], role: 'Admin', seen: now }, now + 3600);
  return `${BENCH_STICKY_COOKIE}; airgate_session=${session}`;
}

/** Set when a signal interrupts the run, so the exit code says so whichever path exits first. */
let interruptedBy: NodeJS.Signals | undefined;

const DEFAULT_CONNECTIONS = [64, 8];

async function main(): Promise<number> {
  const durationSeconds = secondsFromEnv('BENCH_DURATION', 5, 1);
  const warmupSeconds = secondsFromEnv('BENCH_WARMUP', 1, 0);
  const rounds = countFromEnv('BENCH_ROUNDS', 3, 1);
  const connectionsList = connectionsFromEnv('BENCH_CONNECTIONS', DEFAULT_CONNECTIONS);
  const tools = findTools([
    [gatewayMain, 'the gateway'],
    [helloServer, 'the hello server'],
  ]);
  const ticksPerSecond = clockTicksPerSecond();
  const registry = new ProcessRegistry();
  const tempRoot = mkdtempSync(join(tmpdir(), 'airgate-bench-'));

  let cleanedUp = false;
  let stopIdp: (() => Promise<void>) | undefined;
  const cleanupNow = () => {
    if (cleanedUp) return;
    cleanedUp = true;
    killRunningWrk();
    registry.killAllNow();
    rmSync(tempRoot, { recursive: true, force: true });
  };
  const cleanup = async () => {
    if (cleanedUp) return;
    killRunningWrk();
    await registry.stopAll();
    await stopIdp?.();
    cleanupNow();
  };
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      interruptedBy = signal;
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 1));
    });
  }

  try {
    const tempModules = nginxTempModules(tools.nginx);
    const startNginx = async (name: string, makeConfig: (paths: NginxPaths, port: number) => string): Promise<Started> => {
      const dir = mkdtempSync(join(tempRoot, `${name}-`));
      const port = await freePort();
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, makeConfig({ dir, tempModules }, port));
      const proc = registry.start(name, tools.nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf]);
      await waitForPort(proc, port);
      return { proc, port, stopAfter: true };
    };

    // The shared upstream, started once and used by every proxy.
    const upstream = await startNginx('upstream-nginx', (paths, port) => nginxUpstreamConfig(paths, port));
    // The full rows authenticate browsers against this development IdP (discovery at start only).
    const idp = await new DevIdp().start([{ clientId: 'airgate-bench', clientSecret: 'airgate-bench-secret', redirectUris: ['http://127.0.0.1/_airgate/callback'], postLogoutRedirectUris: ['http://127.0.0.1/'] }]);
    stopIdp = () => idp.stop();
    const cookie = await benchCookies();
    await checkHello(upstream.port, 'upstream nginx');

    const startAirgate = async (name: string, makeConfig: (port: number, upstreamPort: number, logDir: string) => string): Promise<Started> => {
      const dir = mkdtempSync(join(tempRoot, `${name}-`));
      const port = await freePort();
      const conf = join(dir, 'airgate.yaml');
      writeFileSync(conf, makeConfig(port, upstream.port, dir));
      const proc = registry.start(name, process.execPath, [gatewayMain, 'serve', '-c', conf], { cwd: repoRoot });
      await waitForPort(proc, port);
      return { proc, port, stopAfter: true };
    };

    const allTargets: Target[] = [
      {
        name: 'direct',
        description: 'wrk -> upstream nginx',
        measuredProcess: 'upstream nginx',
        start: async () => ({ ...upstream, stopAfter: false }),
      },
      {
        name: 'hello',
        description: 'bare node:http hello server (runtime floor)',
        measuredProcess: 'node hello-server',
        start: async () => {
          const port = await freePort();
          const proc = registry.start('hello', process.execPath, [helloServer, String(port), '127.0.0.1']);
          await waitForPort(proc, port);
          return { proc, port, stopAfter: true };
        },
      },
      {
        name: 'haproxy',
        description: 'HAProxy (nbthread 1) -> upstream nginx',
        measuredProcess: 'haproxy',
        start: async () => {
          const dir = mkdtempSync(join(tempRoot, 'haproxy-'));
          const port = await freePort();
          const conf = join(dir, 'haproxy.cfg');
          writeFileSync(conf, haproxyConfig(port, upstream.port));
          const proc = registry.start('haproxy', tools.haproxy, ['-db', '-f', conf], { cwd: dir });
          await waitForPort(proc, port);
          return { proc, port, stopAfter: true };
        },
      },
      {
        name: 'nginx-proxy',
        description: 'nginx (1 worker, keepalive 64) -> upstream nginx',
        measuredProcess: 'proxy nginx',
        start: () => startNginx('nginx-proxy', (paths, port) => nginxProxyConfig(paths, port, upstream.port)),
      },
      {
        name: 'undici-minimal',
        description: 'reference: the least a node:http + undici proxy does -> upstream nginx',
        measuredProcess: 'node undici-minimal-proxy',
        start: async () => {
          const port = await freePort();
          const proc = registry.start('undici-minimal', process.execPath, [minimalProxy, String(port), String(upstream.port)]);
          await waitForPort(proc, port);
          return { proc, port, stopAfter: true };
        },
      },
      {
        name: 'airgate',
        description: 'airgate (one process, round robin, default upstream client) -> upstream nginx',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate', airgateConfig),
      },
      {
        name: 'airgate-undici',
        description: 'the airgate row with upstream.client: undici',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-undici', airgateUndiciConfig),
      },
      {
        name: 'airgate-full',
        cookie,
        description: 'airgate with every feature switched on (peak-ewma, sticky, retries, outlier) -> upstream nginx',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-full', (port, upstreamPort, logDir) => fullFeaturesConfig(port, upstreamPort, idp.issuer, logDir)),
      },
      {
        name: 'airgate-full-airflow3',
        cookie,
        description: 'the full row on an Airflow 3 backend: a minted Airflow 3 token per session instead of identity headers',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-full-airflow3', (port, upstreamPort, logDir) => fullFeaturesAirflow3Config(port, upstreamPort, idp.issuer, logDir)),
      },
      {
        name: 'airgate-2-workers',
        tree: true,
        description: 'airgate, round robin, workers: 2 (CPU of the primary and both workers)',
        measuredProcess: 'node airgate primary + workers',
        start: () => startAirgate('airgate-2-workers', (port, upstreamPort) => airgateConfig(port, upstreamPort).replace('access_log: { enabled: false }', 'access_log: { enabled: false }\nworkers: 2')),
      },
      {
        name: 'airgate-policy-1',
        description: 'airgate with 1 policy rule and a rate limit',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-policy-1', policyConfig(1)),
      },
      {
        name: 'airgate-policy-1000',
        description: 'airgate with 1,000 policy rules and a rate limit',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-policy-1000', policyConfig(1000)),
      },
      {
        name: 'airgate-full-nolog',
        cookie,
        description: 'the full row without access and audit logs (the cost of logging)',
        measuredProcess: 'node airgate',
        start: () => startAirgate('airgate-full-nolog', (port, upstreamPort) => fullFeaturesConfig(port, upstreamPort, idp.issuer)),
      },
    ];

    const selected = (process.env.BENCH_TARGETS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = selected.filter((s) => !allTargets.some((t) => t.name === s));
    if (unknown.length > 0) throw new BenchSetupError(`BENCH_TARGETS names unknown targets: ${unknown.join(', ')} (known: ${allTargets.map((t) => t.name).join(', ')})`, 1);
    const targets = selected.length > 0 ? allTargets.filter((t) => selected.includes(t.name)) : allTargets;

    const cList = connectionsList.map((c) => `-c${c}`).join(' and ');
    process.stdout.write(`airgate bench: ${targets.length} targets at ${cList}, ${warmupSeconds} s warm-up + ${durationSeconds} s each, ${rounds} round(s), wrk -t${WRK_THREADS}\n`);

    const measured: TargetResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) process.stdout.write(`round ${round} of ${rounds}\n`);
      for (const target of targets) {
        process.stdout.write(`  ${target.name} — ${target.description}\n`);
        const started = await target.start();
        try {
          const setCookie = await checkHello(started.port, target.name, target.cookie);
          const cookie = target.cookie ?? setCookie;
          const url = `http://127.0.0.1:${started.port}/`;
          for (const connections of connectionsList) {
            process.stdout.write(`    -c${String(connections).padEnd(4)} ... `);
            const result = await measure({ wrk: tools.wrk, ticksPerSecond, target, started, upstream: upstream.proc, url, cookie, connections, warmupSeconds, durationSeconds });
            measured.push(result);
            process.stdout.write(`${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.latencyMs.p99.toFixed(3)} ms, ${result.cpuUsPerRequest.toFixed(2)} µs CPU/req\n`);
          }
        } finally {
          if (started.stopAfter) await registry.stop(started.proc);
        }
      }
    }
    const results = medianRounds(measured);

    const environment: Environment = {
      date: new Date().toISOString(),
      node: process.version,
      wrk: firstMatch(commandOutput(tools.wrk, ['-v']), /wrk\s+(\S+)/),
      haproxy: firstMatch(commandOutput(tools.haproxy, ['-v']), /version\s+(\S+)/),
      nginx: firstMatch(commandOutput(tools.nginx, ['-v']), /nginx\/(\S+)/),
      nproc: nproc(),
      clockTicksPerSecond: ticksPerSecond,
      platform: `${process.platform} ${process.arch}`,
      durationSeconds,
      warmupSeconds,
      connections: connectionsList,
      wrkArgs: `wrk -t${WRK_THREADS} -c{${connectionsList.join(',')}} -d${durationSeconds}s --latency`,
      rounds,
      upstreamClientEnv: process.env.AIRGATE_UPSTREAM_CLIENT ?? null,
    };
    const report = buildReport(environment, results);

    process.stdout.write(`\n${renderText(report)}`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(resultsDir, 'latest.md'), renderMarkdown(report));
    process.stdout.write(`\nwrote ${join('bench', 'results', 'latest.json')} and ${join('bench', 'results', 'latest.md')}\n`);
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (interruptedBy) process.exit(interruptedBy === 'SIGINT' ? 130 : 1);
    const code = err instanceof BenchSetupError ? err.exitCode : 1;
    process.stderr.write(`\nbench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(code);
  },
);
