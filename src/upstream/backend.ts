import type { BackendConfig } from '../config/schema.js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import { UpstreamServer } from './server.js';
import type { Balancer, BalancerContext } from './balancer/balancer.js';
import { createBalancer } from './balancer/create.js';
import { OutlierDetector } from './outlier.js';
import { RetryBudget } from './retry-budget.js';
import { StickyCookies } from './sticky.js';
import { WaitQueue, type Waiter } from './wait-queue.js';

export interface BackendDeps {
  clock?: Clock;
  random?: Random;
  /** Told when passive health ejects a server. */
  onEject?: (server: UpstreamServer, forMs: number) => void;
}

/** Every server is busy: the request may wait in the queue. */
export const FULL = 'full' as const;

/**
 * A named group of interchangeable Airflow servers: the servers and their state, the balancer,
 * stickiness, passive health, the retry budget and the wait queue. `select` is the one place
 * that decides which servers may take a request.
 */
export class Backend {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly balancer: Balancer;
  readonly sticky: StickyCookies | undefined;
  readonly outlier: OutlierDetector;
  readonly budget: RetryBudget;
  readonly queue: WaitQueue;
  readonly clock: Clock;
  readonly config: BackendConfig;
  private readonly byName = new Map<string, UpstreamServer>();

  constructor(name: string, cfg: BackendConfig, deps: BackendDeps = {}, previous?: Backend) {
    this.name = name;
    this.config = cfg;
    this.clock = deps.clock ?? systemClock;
    this.servers = cfg.servers.map((s, i) => new UpstreamServer(name, i, s, cfg, previous?.server(s.name)));
    for (const s of this.servers) this.byName.set(s.name, s);
    const ctx: BalancerContext = { clock: this.clock, random: deps.random ?? systemRandom, slowStartMs: cfg.slow_start };
    this.balancer = createBalancer(cfg, this.servers, ctx);
    this.sticky = cfg.sticky ? new StickyCookies(name, cfg.sticky.cookie, cfg.sticky.keys, cfg.sticky.ttl) : undefined;
    this.outlier = new OutlierDetector(this.servers, cfg.outlier, deps.onEject ?? (() => {}));
    this.budget = new RetryBudget(cfg.retries.budget);
    this.queue = new WaitQueue(cfg.queue.size, cfg.queue.timeout);
  }

  server(name: string): UpstreamServer | undefined {
    return this.byName.get(name);
  }

  /**
   * Choose a server: the sticky one when it is in rotation and has room, else the balancer's
   * choice among the best tier's servers that have room and were not tried yet. Returns FULL when
   * servers are in rotation but all busy, undefined when none is in rotation.
   */
  select(stickyName: string | undefined, hashKey: string | undefined, exclude: readonly UpstreamServer[] | undefined): UpstreamServer | typeof FULL | undefined {
    const now = this.clock.now();
    if (stickyName !== undefined) {
      const s = this.byName.get(stickyName);
      if (s && s.availableForSticky(now) && s.hasCapacity() && !exclude?.includes(s)) return s;
    }
    let tier = Infinity;
    for (const s of this.servers) if (s.tier < tier && s.available(now) && !exclude?.includes(s)) tier = s.tier;
    if (tier === Infinity) return undefined;
    const candidates: UpstreamServer[] = [];
    for (const s of this.servers) if (s.tier === tier && s.available(now) && s.hasCapacity() && !exclude?.includes(s)) candidates.push(s);
    if (candidates.length === 0) return FULL;
    return this.balancer.pick(candidates, { hashKey }) ?? FULL;
  }

  /** An attempt on `server` ended: free its slot and hand it to the longest-waiting request. */
  release(server: UpstreamServer): void {
    server.inflight--;
    if (this.queue.length > 0) this.queue.serve((w: Waiter) => this.select(undefined, w.hashKey, undefined));
  }

  async close(): Promise<void> {
    this.queue.clear();
    await Promise.all(this.servers.map((s) => s.close()));
  }

  async destroy(): Promise<void> {
    this.queue.clear();
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}
