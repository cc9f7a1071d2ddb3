import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createLogger } from '../observability/logger.js';
import type { AirgateConfig } from '../config/schema.js';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';

import { Runtime } from '../server/runtime.js';
import { AggregatorRegistry } from 'prom-client';
import { GcraStore } from '../policy/rate-limiter.js';
import type { AdminChange, HealthSnapshot } from '../server/gateway.js';
import { DiscoveryManager } from '../upstream/discovery/manager.js';

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'reloaded'; ok: boolean }
  | { type: 'stopped' }
  | { type: 'admin'; change: AdminChange }
  | { type: 'collect'; id: number; kind: 'metrics' | 'status' }
  | { type: 'metrics'; id: number; json: object[] | object }
  | { type: 'take'; id: number; key: string; now: number; emissionMs: number; burst: number };
export type PrimaryMessage =
  | { type: 'reload' }
  | { type: 'stop' }
  | { type: 'health'; health: HealthSnapshot }
  | { type: 'admin'; change: AdminChange }
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
  return cfg.workers === 'auto' ? availableParallelism() : cfg.workers;
}

/**
 * The primary of `workers: N`: forks N worker processes that share the listeners (the kernel
 * spreads connections), replaces a worker that dies, reloads them one at a time on SIGHUP (each
 * waits until the previous one has reloaded, so listeners never close), and stops them
 * gracefully on SIGTERM/SIGINT. The admin listener runs in the first worker.
 */
export async function runPrimary(cfg: AirgateConfig, configFile: string): Promise<void> {
  const logger = createLogger(cfg.logging.level);
  const n = workerCount(cfg);
  cluster.schedulingPolicy = cluster.SCHED_NONE; // the kernel balances accepts; no hop through the primary
  let stopping = false;
  const slots = new Map<number, Worker>();

  const fork = (slot: number): Worker => {
    // A worker starts with the servers discovery knows now (it opens its listeners before its first message).
    const w = cluster.fork({ AIRGATE_WORKER_SLOT: String(slot), AIRGATE_INITIAL_HEALTH: JSON.stringify(snapshot(health, discovery)) });
    slots.set(slot, w);
    w.on('exit', (code, signal) => {
      if (slots.get(slot) !== w) return;
      slots.delete(slot);
      if (stopping) return;
      logger.error({ slot, pid: w.process.pid, code, signal }, 'worker died; starting a new one');
      fork(slot);
    });
    return w;
  };
  const whenMessage = (w: Worker, type: WorkerMessage['type']) =>
    new Promise<WorkerMessage>((resolve) => {
      const on = (m: WorkerMessage) => {
        if (m?.type === type) {
          w.off('message', on);
          resolve(m);
        }
      };
      w.on('message', on);
    });

  // Health checks run here, once per machine; every change reaches the workers within 250 ms.
  let health = new Runtime(cfg, logger);
  // DNS discovery runs here too, once per machine; workers get the lists with the health.
  const discovery = new DiscoveryManager(() => health.backends, logger, (backend, plan) => logger.info({ backend, added: plan.add.map((s) => s.name), retiring: plan.retire }, `discovery: ${backend} changed`));
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
  let collectId = 0;
  const pending = new Map<number, { kind: 'metrics' | 'status'; parts: unknown[]; left: number; done: (text: string) => void }>();
  const collect = (kind: 'metrics' | 'status', done: (text: string) => void) => {
    const id = ++collectId;
    const live = [...slots.values()].filter((w) => w.isConnected());
    pending.set(id, { kind, parts: [], left: live.length, done });
    for (const w of live) w.send({ type: 'metrics', id, kind } satisfies PrimaryMessage);
  };
  const counters = new GcraStore(cfg.limit_store_size);
  cluster.on('message', (from: Worker, m: WorkerMessage) => {
    if (m?.type === 'take') {
      from.send({ type: 'took', id: m.id, result: counters.take(m.key, m.now, m.emissionMs, m.burst) });
      return;
    }
    if (m?.type === 'collect') collect(m.kind, (text) => from.send({ type: 'collected', id: m.id, text } satisfies PrimaryMessage));
    if (m?.type === 'metrics') {
      const p = pending.get(m.id);
      if (!p) return;
      p.parts.push(m.json);
      if (--p.left === 0) {
        pending.delete(m.id);
        if (p.kind === 'metrics') void AggregatorRegistry.aggregate(p.parts as object[][]).metrics().then(p.done);
        else p.done(JSON.stringify(mergeStatus(p.parts as MachineStatus[])));
      }
    }
    if (m?.type === 'ready') from.send({ type: 'health', health: snapshot(health, discovery) } satisfies PrimaryMessage);
    if (m?.type === 'admin') for (const w of slots.values()) if (w !== from && w.isConnected()) w.send({ type: 'admin', change: m.change } satisfies PrimaryMessage);
  });

  const workers = Array.from({ length: n }, (_, i) => fork(i));
  await Promise.all(workers.map((w) => whenMessage(w, 'ready')));
  logger.info({ workers: n, pids: workers.map((w) => w.process.pid) }, 'airgate workers started');

  let reloading = false;
  process.on('SIGHUP', () => {
    if (reloading) return;
    reloading = true;
    void (async () => {
      try {
        loadConfigFile(configFile); // refuse a broken file before touching any worker
      } catch (err) {
        logger.error({ errors: err instanceof ConfigError ? err.message.split('\n') : [String(err)] }, 'configuration reload failed; the running configuration stays');
        reloading = false;
        return;
      }
      const nextCfg = loadConfigFile(configFile);
      const next = new Runtime(nextCfg, logger, {}, health);
      next.startHealthChecks();
      void health.retire();
      health = next;
      discovery.configure(nextCfg);
      for (const [slot, w] of [...slots]) {
        w.send({ type: 'reload' } satisfies PrimaryMessage);
        const r = await whenMessage(w, 'reloaded');
        logger.info({ slot, pid: w.process.pid, ok: (r as { ok: boolean }).ok }, 'worker reloaded');
      }
      reloading = false;
    })();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    logger.info('airgate stopping workers');
    clearInterval(ticker);
    discovery.stop();
    void health.destroy();
    const all = [...slots.values()];
    for (const w of all) w.send({ type: 'stop' } satisfies PrimaryMessage);
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

type MachineStatus = ReturnType<typeof import('../admin/status.js').runtimeStatus>;

/** The machine's status from every worker's: counters added up (servers matched by id: discovery may have changed a list), the rest (states, events) from the first. */
export function mergeStatus(parts: MachineStatus[]): MachineStatus {
  const [first, ...rest] = parts;
  const out = JSON.parse(JSON.stringify(first)) as MachineStatus;
  for (const p of rest) {
    p.backends.forEach((b, i) => {
      const ob = out.backends[i];
      if (!ob) return;
      ob.queued += b.queued;
      ob.secretKeyDrift ||= b.secretKeyDrift;
      b.servers.forEach((s) => {
        const os = ob.servers.find((x) => x.id === s.id);
        if (!os) return;
        os.inflight += s.inflight;
        os.served += s.served;
        os.failed += s.failed;
        os.ejections += s.ejections;
        os.p99Ms = s.p99Ms === null ? os.p99Ms : Math.max(os.p99Ms ?? 0, s.p99Ms);
      });
    });
  }
  return out;
}
