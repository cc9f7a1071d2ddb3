import { AggregatorRegistry } from 'prom-client';
import type { runtimeStatus } from '../admin/status.js';

export type MachineStatus = ReturnType<typeof runtimeStatus> & { workers?: { slot: number; pid: number; served: number }[] };
type MetricsJson = Awaited<ReturnType<AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'>['getMetricsAsJSON']>>;
type Kind = 'metrics' | 'status';

interface Pending {
  kind: Kind;
  parts: Map<number, unknown>;
  waiting: Set<number>;
  done: (text: string) => void;
}

/** What the primary needs to know about a worker it asks. */
export interface Asked {
  id: number;
  slot: number;
  pid: number;
  ask: (id: number, kind: Kind) => void;
}

/**
 * The numbers of the whole machine under `workers: N`, added up by the primary from every
 * worker's answer. A worker that dies takes its counters with it, so the primary keeps each
 * worker's last answer and, when the worker is gone, folds its counters and histograms (never
 * its gauges) into a "retired" part that every later sum includes: machine-wide counters never
 * decrease while the primary lives. A collection waiting for a worker that dies completes
 * without it.
 */
export class MachineCollector {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly lastMetrics = new Map<number, MetricsJson>();
  private readonly lastStatus = new Map<number, MachineStatus>();
  private retiredMetrics: MetricsJson = [];
  /** Counters of workers gone whose folding into retiredMetrics (asynchronous) has not finished: summed meanwhile. */
  private retiring: MetricsJson[] = [];
  private folding: Promise<void> = Promise.resolve();
  /** Per server id: counts served by workers that are gone. */
  private readonly retiredStatus = new Map<string, { served: number; failed: number; ejections: number }>();
  private readonly slots = new Map<number, { slot: number; pid: number }>();

  collect(kind: Kind, workers: readonly Asked[], done: (text: string) => void): void {
    const id = ++this.nextId;
    const p: Pending = { kind, parts: new Map(), waiting: new Set(workers.map((w) => w.id)), done };
    this.pending.set(id, p);
    for (const w of workers) this.slots.set(w.id, { slot: w.slot, pid: w.pid });
    if (workers.length === 0) return void this.complete(id, p);
    for (const w of workers) w.ask(id, kind);
  }

  /** A worker's answer to collection `id`. */
  answer(workerId: number, id: number, json: unknown): void {
    const p = this.pending.get(id);
    if (!p || !p.waiting.delete(workerId)) return;
    p.parts.set(workerId, json);
    if (p.kind === 'metrics') this.lastMetrics.set(workerId, json as MetricsJson);
    else this.lastStatus.set(workerId, json as MachineStatus);
    if (p.waiting.size === 0) this.complete(id, p);
  }

  /** A worker exited: keep its last counts, stop waiting for it. */
  async workerGone(workerId: number): Promise<void> {
    const metrics = this.lastMetrics.get(workerId);
    const status = this.lastStatus.get(workerId);
    this.lastMetrics.delete(workerId);
    this.lastStatus.delete(workerId);
    this.slots.delete(workerId);
    for (const [id, p] of this.pending) if (p.waiting.delete(workerId) && p.waiting.size === 0) this.complete(id, p);
    for (const b of status?.backends ?? []) {
      for (const s of b.servers) {
        const r = this.retiredStatus.get(s.id) ?? { served: 0, failed: 0, ejections: 0 };
        r.served += s.served;
        r.failed += s.failed;
        r.ejections += s.ejections;
        this.retiredStatus.set(s.id, r);
      }
    }
    if (metrics) {
      const counts = metrics.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
      this.retiring.push(counts);
      // One fold at a time, each on the result of the previous (two workers may die together).
      this.folding = this.folding.then(async () => {
        this.retiredMetrics = await AggregatorRegistry.aggregate([this.retiredMetrics, counts]).getMetricsAsJSON();
        this.retiring = this.retiring.filter((m) => m !== counts);
      });
      await this.folding;
    }
  }

  private complete(id: number, p: Pending): void {
    this.pending.delete(id);
    if (p.kind === 'metrics') {
      void AggregatorRegistry.aggregate([...(p.parts.values() as Iterable<MetricsJson>), this.retiredMetrics, ...this.retiring])
        .metrics()
        .then(p.done);
      return;
    }
    const parts = [...p.parts.entries()].sort(([a], [b]) => (this.slots.get(a)?.slot ?? 0) - (this.slots.get(b)?.slot ?? 0));
    const merged = mergeStatus(
      parts.map(([, s]) => s as MachineStatus),
      this.retiredStatus,
    );
    merged.workers = parts.map(([wid, s]) => ({ ...(this.slots.get(wid) ?? { slot: -1, pid: 0 }), served: servedBy(s as MachineStatus) }));
    p.done(JSON.stringify(merged));
  }
}

function servedBy(s: MachineStatus): number {
  return s.backends.reduce((a, b) => a + b.servers.reduce((x, srv) => x + srv.served, 0), 0);
}

/** The machine's status from every worker's: counters added up (also those of workers gone), the rest (states, events) from the first. */
export function mergeStatus(parts: MachineStatus[], retired: ReadonlyMap<string, { served: number; failed: number; ejections: number }> = new Map()): MachineStatus {
  const [first, ...rest] = parts;
  const out = JSON.parse(JSON.stringify(first ?? { time: new Date().toISOString(), backends: [], events: [] })) as MachineStatus;
  for (const p of rest) {
    p.backends.forEach((b, i) => {
      const ob = out.backends[i];
      if (!ob) return;
      ob.queued += b.queued;
      ob.secretKeyDrift ||= b.secretKeyDrift;
      b.servers.forEach((s) => {
        const os = ob.servers.find((x) => x.id === s.id); // by id: discovery may have changed a list
        if (!os) return;
        os.inflight += s.inflight;
        os.served += s.served;
        os.failed += s.failed;
        os.ejections += s.ejections;
        os.p99Ms = s.p99Ms === null ? os.p99Ms : Math.max(os.p99Ms ?? 0, s.p99Ms);
      });
    });
  }
  for (const b of out.backends) {
    for (const s of b.servers) {
      const r = retired.get(s.id);
      if (!r) continue;
      s.served += r.served;
      s.failed += r.failed;
      s.ejections += r.ejections;
    }
  }
  return out;
}
