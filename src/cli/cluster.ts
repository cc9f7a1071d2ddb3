import cluster, { type Worker } from 'node:cluster';
import { createLogger } from '../observability/logger.js';
import type { AirgateConfig } from '../config/schema.js';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';

import { Runtime } from '../server/runtime.js';
import { MachineCollector } from './machine-collector.js';
import { autoWorkers } from './cpu-limit.js';
import { GcraStore } from '../policy/rate-limiter.js';
import { newBootId } from '../auth/authenticator.js';
import type { Revocation } from '../auth/session-store.js';
import type { AdminChange, HealthSnapshot } from '../server/gateway.js';
import { DiscoveryManager } from '../upstream/discovery/manager.js';

export type ReloadOutcome = { ok: true; workers: number } | { ok: false; errors: string[] };
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'reloaded'; ok: boolean }
  | { type: 'reopened' }
  | { type: 'stopped' }
  | { type: 'fatal'; message: string }
  | { type: 'admin'; change: AdminChange }
  | { type: 'revoke'; id: number; match: Revocation; maxAgeMs: number }
  | { type: 'collect'; id: number; kind: 'metrics' | 'status' }
  | { type: 'metrics'; id: number; json: object[] | object }
  | { type: 'reload-request'; id: number }
  | { type: 'take'; id: number; key: string; now: number; emissionMs: number; burst: number };
export type PrimaryMessage =
  | { type: 'reload'; bySignal: boolean }
  | { type: 'reload-refused'; errors: string[]; bySignal: boolean }
  | { type: 'reload-done'; id: number; result: ReloadOutcome }
  | { type: 'reopen' }
  | { type: 'stop' }
  | { type: 'health'; health: HealthSnapshot }
  | { type: 'admin'; change: AdminChange }
  | { type: 'revoke'; match: Revocation; maxAgeMs: number }
  | { type: 'revoke-done'; id: number }
  | { type: 'metrics'; id: number; kind: 'metrics' | 'status' }
  | { type: 'collected'; id: number; text: string };

/** Health as a runtime's checkers see it, and the servers discovery found. */
function snapshot(rt: Runtime, discovery?: DiscoveryManager): HealthSnapshot {
  const h: HealthSnapshot = { servers: {}, clusterDegraded: {}, discovery: discovery?.snapshot() };
  for (const b of rt.backends.values()) {
    for (const s of b.servers) h.servers[s.id] = s.health;
    h.clusterDegraded[b.name] = rt.clusterDegraded(b.name) ?? null;
  }
  return h;
}

/** Workers do not run health checks: the primary checks once per machine and tells them. */
export function withoutHealthChecks(cfg: AirgateConfig): AirgateConfig {
  return { ...cfg, backends: Object.fromEntries(Object.entries(cfg.backends).map(([n, b]) => [n, { ...b, health: { ...b.health, enabled: false } }])) };
}

export function workerCount(cfg: AirgateConfig): number {
  return cfg.workers === 'auto' ? autoWorkers() : cfg.workers;
}

/**
 * The primary of `workers: N`: forks N worker processes that share the listeners (the kernel
 * spreads connections), replaces a worker that dies, reloads them one at a time on SIGHUP (each
 * waits until the previous one has reloaded, so listeners never close), has every worker reopen
 * its log files on SIGHUP and SIGUSR1 (logrotate), and stops them gracefully on SIGTERM/SIGINT.
 * The admin listener runs in the first worker. A worker that cannot listen stops the machine
 * with one line naming the address.
 */
export async function runPrimary(cfg: AirgateConfig, configFile: string): Promise<void> {
  const logger = createLogger(cfg.logging.level);
  const n = workerCount(cfg);
  cluster.schedulingPolicy = cluster.SCHED_NONE; // the kernel balances accepts; no hop through the primary
  let stopping = false;
  const slots = new Map<number, Worker>();
  const collector = new MachineCollector();

  // One start of the machine: every worker (restarted ones too) shares it, so memory-store sessions are valid on all of them and end with the primary.
  const bootId = newBootId();
  // Logouts made by any worker, replayed to a worker that starts later (bounded: the oldest go first).
  const revocations: { match: Revocation; maxAgeMs: number; until: number }[] = [];
  const fork = (slot: number): Worker => {
    // A worker starts with the servers discovery knows now (it opens its listeners before its first message).
    const w = cluster.fork({ AIRGATE_WORKER_SLOT: String(slot), AIRGATE_BOOT_ID: bootId, AIRGATE_INITIAL_HEALTH: JSON.stringify(snapshot(health, discovery)) });
    slots.set(slot, w);
    w.on('exit', (code, signal) => {
      void collector.workerGone(w.id);
      if (slots.get(slot) !== w) return;
      slots.delete(slot);
      if (stopping) return;
      logger.error({ slot, pid: w.process.pid, code, signal }, 'worker died; starting a new one');
      fork(slot);
    });
    return w;
  };
  const whenMessage = (w: Worker, type: WorkerMessage['type']) =>
    new Promise<WorkerMessage | undefined>((resolve) => {
      const on = (m: WorkerMessage) => {
        if (m?.type !== type) return;
        w.off('message', on);
        w.off('exit', gone);
        resolve(m);
      };
      const gone = () => {
        w.off('message', on);
        resolve(undefined);
      };
      w.on('message', on);
      w.once('exit', gone);
    });
  const live = () => [...slots.entries()].filter(([, w]) => w.isConnected());

  // Health checks run here, once per machine; every change reaches the workers within 250 ms.
  let health = new Runtime(cfg, logger);
  // DNS discovery runs here too, once per machine; workers get the lists with the health.
  const discovery = new DiscoveryManager(
    () => health.backends,
    logger,
    (backend, plan) => logger.info({ backend, added: plan.add.map((s) => s.name), retiring: plan.retire }, `discovery: ${backend} changed`),
  );
  discovery.configure(cfg);
  await discovery.start();
  health.startHealthChecks();
  let last = '';
  const broadcast = (force = false) => {
    const h = snapshot(health, discovery);
    const text = JSON.stringify(h);
    if (!force && text === last) return;
    last = text;
    for (const w of slots.values()) if (w.isConnected()) w.send({ type: 'health', health: h } satisfies PrimaryMessage);
  };
  const ticker = setInterval(() => broadcast(), 250);
  // Metrics of the whole machine: the worker serving /metrics asks; every worker answers; the sum goes back.
  const collect = (kind: 'metrics' | 'status', done: (text: string) => void) =>
    collector.collect(
      kind,
      live().map(([slot, w]) => ({ id: w.id, slot, pid: w.process.pid ?? 0, ask: (id, k) => w.send({ type: 'metrics', id, kind: k } satisfies PrimaryMessage) })),
      done,
    );
  const counters = new GcraStore(cfg.limit_store_size);
  cluster.on('message', (from: Worker, m: WorkerMessage) => {
    if (m?.type === 'take') {
      from.send({ type: 'took', id: m.id, result: counters.take(m.key, m.now, m.emissionMs, m.burst) });
      return;
    }
    if (m?.type === 'collect') collect(m.kind, (text) => from.send({ type: 'collected', id: m.id, text } satisfies PrimaryMessage));
    if (m?.type === 'metrics') collector.answer(from.id, m.id, m.json);
    if (m?.type === 'ready') from.send({ type: 'health', health: snapshot(health, discovery) } satisfies PrimaryMessage);
    if (m?.type === 'admin') for (const w of slots.values()) if (w !== from && w.isConnected()) w.send({ type: 'admin', change: m.change } satisfies PrimaryMessage);
    if (m?.type === 'revoke') {
      const now = Date.now();
      while (revocations.length > 0 && (revocations[0]!.until < now || revocations.length >= 100_000)) revocations.shift();
      revocations.push({ match: m.match, maxAgeMs: m.maxAgeMs, until: now + m.maxAgeMs });
      for (const w of slots.values()) if (w !== from && w.isConnected()) w.send({ type: 'revoke', match: m.match, maxAgeMs: m.maxAgeMs } satisfies PrimaryMessage);
      from.send({ type: 'revoke-done', id: m.id } satisfies PrimaryMessage);
    }
    if (m?.type === 'ready') for (const r of revocations) if (r.until > Date.now()) from.send({ type: 'revoke', match: r.match, maxAgeMs: r.until - Date.now() } satisfies PrimaryMessage);
    if (m?.type === 'reload-request') void reload(false).then((result) => from.isConnected() && from.send({ type: 'reload-done', id: m.id, result } satisfies PrimaryMessage));
    if (m?.type === 'fatal') fatal(m.message);
  });
  const fatal = (message: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`airgate: ${message}\n`);
    clearInterval(ticker);
    void health.destroy();
    process.exit(1); // the workers exit when their channel to the primary closes
  };

  const workers = Array.from({ length: n }, (_, i) => fork(i));
  await Promise.all(workers.map((w) => whenMessage(w, 'ready')));
  if (stopping) return;
  logger.info({ workers: n, pids: workers.map((w) => w.process.pid) }, 'airgate workers started');

  // Reloads run one at a time (SIGHUP and the admin API may ask together).
  let reloads: Promise<ReloadOutcome> = Promise.resolve({ ok: true, workers: 0 });
  const reload = (bySignal: boolean): Promise<ReloadOutcome> => (reloads = reloads.catch(() => undefined).then(() => reloadOnce(bySignal)));
  const reloadOnce = async (bySignal: boolean): Promise<ReloadOutcome> => {
    let next: AirgateConfig;
    try {
      next = loadConfigFile(configFile); // refuse a broken file before touching any worker
    } catch (err) {
      const errors = err instanceof ConfigError ? err.message.split('\n') : [String(err)];
      logger.error({ errors }, 'configuration reload failed; the running configuration stays');
      for (const [, w] of live()) w.send({ type: 'reload-refused', errors, bySignal } satisfies PrimaryMessage);
      return { ok: false, errors };
    }
    const checker = new Runtime(next, logger, {}, health);
    checker.startHealthChecks();
    void health.retire();
    health = checker;
    discovery.configure(next);
    let count = 0;
    for (const [slot, w] of live()) {
      w.send({ type: 'reload', bySignal } satisfies PrimaryMessage);
      const r = await whenMessage(w, 'reloaded');
      if (r) count++;
      logger.info({ slot, pid: w.process.pid, ok: (r as { ok: boolean } | undefined)?.ok ?? false }, 'worker reloaded');
    }
    return { ok: true, workers: count };
  };
  // logrotate: every worker reopens its files; the primary says when all have.
  const reopen = async (signal: string) => {
    const all = live();
    for (const [, w] of all) w.send({ type: 'reopen' } satisfies PrimaryMessage);
    const done = await Promise.all(all.map(([, w]) => whenMessage(w, 'reopened').then((m) => (m ? w.process.pid : undefined))));
    logger.info({ signal, pids: done.filter((p) => p !== undefined) }, 'log files reopened');
  };
  process.on('SIGHUP', () => {
    void reopen('SIGHUP');
    void reload(true);
  });
  process.on('SIGUSR1', () => void reopen('SIGUSR1'));
  const stop = () => {
    if (stopping) return;
    stopping = true;
    logger.info('airgate stopping workers');
    clearInterval(ticker);
    discovery.stop();
    void health.destroy();
    const all = [...slots.values()];
    for (const w of all) if (w.isConnected()) w.send({ type: 'stop' } satisfies PrimaryMessage);
    void Promise.all(all.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))))).then(() => {
      logger.info('airgate stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const isWorker = (): boolean => cluster.isWorker;

/** In a worker: the slot it occupies (the admin listener lives in slot 0). */
export function workerSlot(): number {
  return Number(process.env.AIRGATE_WORKER_SLOT ?? '0');
}

/**
 * Rate-limit counters of `workers: N` with the memory store, kept by the primary so the limits
 * hold for the whole machine (one message round trip per limited request). Redis, when
 * configured, replaces it.
 */
export class PrimaryCounter {
  readonly degraded = false;
  private id = 0;
  private readonly waiting = new Map<number, (r: { allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number }) => void>();

  constructor() {
    process.on('message', (m: { type?: string; id?: number; result?: { allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number } }) => {
      if (m?.type !== 'took' || m.id === undefined || !m.result) return;
      this.waiting.get(m.id)?.(m.result);
      this.waiting.delete(m.id);
    });
  }

  take(key: string, now: number, emissionMs: number, burst: number): Promise<{ allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number }> {
    const id = ++this.id;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      process.send?.({ type: 'take', id, key, now, emissionMs, burst });
    });
  }

  close(): void {}
}
