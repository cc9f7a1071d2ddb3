import type { BackendConfig, ServerConfig } from '../config/schema.js';
import type { HealthState } from './health/state-machine.js';
import type { DiscoveryStats } from './discovery/dns-discovery.js';
import { systemClock, systemRandom, type Clock, type Random } from '../core/clock.js';
import { UpstreamServer, type Lease, type LeaseListener } from './server.js';
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

/** Told when servers join or leave a backend (discovery); the health checker follows through it. */
export interface MembershipListener {
  added(server: UpstreamServer): void;
  removed(server: UpstreamServer): void;
}

/** Every server is busy: the request may wait in the queue. */
export const FULL = 'full' as const;

/**
 * A named group of interchangeable Airflow servers: the servers and their state, the balancer,
 * stickiness, passive health, the retry budget and the wait queue. `select` is the one place
 * that decides which servers may take a request.
 */
export class Backend implements LeaseListener {
  readonly name: string;
  readonly sticky: StickyCookies | undefined;
  readonly outlier: OutlierDetector;
  readonly budget: RetryBudget;
  readonly queue: WaitQueue;
  readonly clock: Clock;
  readonly config: BackendConfig;
  /** Numbers of the discovery feeding this backend (kept by the discovery, read by status pages and metrics). */
  discovery: DiscoveryStats | undefined;
  /** Configs of the servers discovery added (a reload carries them over). */
  readonly discovered = new Map<string, ServerConfig>();
  private readonly byName = new Map<string, UpstreamServer>();
  /** One array for the backend's life, changed in place, so holders of `servers` see joins and leaves. */
  private readonly members: UpstreamServer[];
  private current: Balancer;
  private readonly ctx: BalancerContext;
  private readonly membership: MembershipListener[] = [];

  constructor(name: string, cfg: BackendConfig, deps: BackendDeps = {}, previous?: Backend) {
    this.name = name;
    this.config = cfg;
    this.clock = deps.clock ?? systemClock;
    this.members = cfg.servers.map((s, i) => new UpstreamServer(name, i, s, cfg, previous?.server(s.name)));
    if (previous) this.carryOver(previous);
    for (const s of this.members) this.byName.set(s.name, s);
    this.ctx = { clock: this.clock, random: deps.random ?? systemRandom, slowStartMs: cfg.slow_start };
    this.current = createBalancer(cfg, this.members, this.ctx);
    this.sticky = cfg.sticky ? new StickyCookies(name, cfg.sticky.cookie, cfg.sticky.keys, cfg.sticky.ttl) : undefined;
    this.outlier = new OutlierDetector(this.servers, cfg.outlier, deps.onEject ?? (() => {}));
    this.budget = new RetryBudget(cfg.retries.budget);
    this.queue = new WaitQueue(cfg.queue.size, cfg.queue.timeout);
  }

  /**
   * A reload: servers of the same name took over their predecessor's state and pool as they were
   * built (`UpstreamServer.carryOver`); here the servers discovery found come along too, with the
   * new config's discovery weight and cap. Servers already retiring stay with the old snapshot;
   * the balancer, stickiness, passive-health detector, retry budget and queue start afresh.
   */
  private carryOver(previous: Backend): void {
    const discovery = this.config.discovery;
    if (!discovery) return;
    for (const [n, sc] of previous.discovered) {
      const old = previous.server(n);
      if (!old || old.retiring || this.config.servers.some((s) => s.name === n)) continue;
      const next = { ...sc, weight: discovery.weight, max_connections: discovery.max_connections };
      this.members.push(new UpstreamServer(this.name, this.members.length, next, this.config, old));
      this.discovered.set(n, next);
    }
  }

  get servers(): readonly UpstreamServer[] {
    return this.members;
  }

  /** The balancer; rebuilt when servers join or leave (it keeps state per server index). */
  get balancer(): Balancer {
    return this.current;
  }

  server(name: string): UpstreamServer | undefined {
    return this.byName.get(name);
  }

  /** Follow servers joining and leaving. */
  onMembership(listener: MembershipListener): void {
    this.membership.push(listener);
  }

  /**
   * A server found by discovery joins with the backend's settings. `health: 'down'` keeps it out
   * of rotation until its health checks pass (then slow start ramps it up); `'up'` puts it in
   * rotation now (the first answer at start, or health checks off). A server of that name that
   * is retiring is taken back instead.
   */
  addServer(cfg: ServerConfig, health: HealthState): UpstreamServer {
    const existing = this.byName.get(cfg.name);
    if (existing) {
      existing.recall();
      return existing;
    }
    const s = new UpstreamServer(this.name, this.members.length, cfg, this.config);
    s.joined(health, this.clock.now());
    this.members.push(s);
    this.byName.set(s.name, s);
    this.discovered.set(s.name, cfg);
    this.rebalance();
    for (const l of this.membership) l.added(s);
    return s;
  }

  /**
   * Take a discovered server out: no new requests and no sticky sessions from now on (sticky users
   * are sent elsewhere and get a new cookie); requests in flight finish; then it leaves the backend
   * and its pool closes. While no other server is in rotation (its successors still wait for
   * their health checks) it keeps serving and stays: a backend is never emptied by discovery.
   */
  retire(name: string): boolean {
    const s = this.byName.get(name);
    if (!s || s.retiring || !this.discovered.has(name)) return false;
    s.retire();
    this.settle();
    return true;
  }

  /** Remove retiring servers that have nothing in flight, once another server is in rotation. Called after anything that could allow it. */
  settle(): void {
    const now = this.clock.now();
    if (!this.members.some((m) => m.available(now))) return;
    for (const s of [...this.members]) if (s.retiring && s.inflight === 0) this.remove(s);
  }

  private remove(s: UpstreamServer): void {
    const i = this.members.indexOf(s);
    if (i < 0) return;
    this.members.splice(i, 1);
    this.byName.delete(s.name);
    this.discovered.delete(s.name);
    s.renumber(-1);
    this.rebalance();
    for (const l of this.membership) l.removed(s);
    void s.close();
  }

  /** Renumber the servers and build a fresh balancer for them. */
  private rebalance(): void {
    this.members.forEach((m, i) => m.renumber(i));
    this.current = createBalancer(this.config, this.members, this.ctx);
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
    if (tier === Infinity) return this.selectRetiring(now, hashKey, exclude);
    const candidates: UpstreamServer[] = [];
    for (const s of this.servers) if (s.tier === tier && s.available(now) && s.hasCapacity() && !exclude?.includes(s)) candidates.push(s);
    if (candidates.length === 0) return FULL;
    return this.balancer.pick(candidates, { hashKey }) ?? FULL;
  }

  /** The fallback while only withdrawn servers are in rotation (their successors not yet healthy). */
  private selectRetiring(now: number, hashKey: string | undefined, exclude: readonly UpstreamServer[] | undefined): UpstreamServer | typeof FULL | undefined {
    let inRotation = false;
    const candidates: UpstreamServer[] = [];
    for (const s of this.members) {
      if (!s.retiring || !s.inRotation(now) || exclude?.includes(s)) continue;
      inRotation = true;
      if (s.hasCapacity()) candidates.push(s);
    }
    if (!inRotation) return undefined;
    return candidates.length === 0 ? FULL : (this.current.pick(candidates, { hashKey }) ?? FULL);
  }

  /** Count an attempt (or a tunnel) on `server` in; releasing the lease frees its slot (`leaseEnded`). */
  acquire(server: UpstreamServer): Lease {
    return server.lease(this);
  }

  /** A lease on `server` ended: a retiring server may leave, and the freed slot goes to the longest-waiting request. */
  leaseEnded(server: UpstreamServer): void {
    if (server.retiring && server.inflight === 0) this.settle();
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
