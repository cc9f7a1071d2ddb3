import type { BackendConfig, ServerConfig } from '../config/schema.js';
import type { HealthState } from './health/state-machine.js';
import { createPool, type UpstreamPool } from './pool-factory.js';
import { LatencyRing } from './latency-ring.js';
import { upstreamTls } from './upstream-tls.js';
import { END_LEASE, Lease, type LeaseListener } from './lease.js';

export { Lease, type LeaseListener } from './lease.js';

/** What an operator asked for: in rotation, no new sessions, or no traffic at all. */
export type AdminState = 'ready' | 'drain' | 'maint';

/**
 * One Airflow webserver / API server: its identity, its connection pool, its live state. The state is
 * private; writers change it through methods named for what they mean (health checker `setHealth`,
 * outlier detection `recordFailure`/`eject`, admin API and worker relay `setAdmin`/`setWeight`,
 * discovery `retire`/`recall`, the proxy `lease`); the rules reading it are written once, here.
 */
export class UpstreamServer {
  readonly backend: string;
  readonly name: string;
  /** `backend/name`, the id operators use (e.g. `airflow/web-2`). */
  readonly id: string;
  readonly url: URL;
  readonly tier: number;
  /** Requests in flight at most (0: no limit). */
  readonly maxConnections: number;
  readonly pool: UpstreamPool;
  /** Recent response times in ms (ring buffer) for p99 on status pages. */
  readonly #latencies = new LatencyRing();
  #index: number;
  #weight: number;
  #inflight = 0;
  /** Passive health: attempts failed in a row, out of rotation until, back-off multiplier. */
  #consecutiveFailures = 0;
  #ejectedUntil = 0;
  #ejections = 0;
  #returnedAt = Number.NEGATIVE_INFINITY;
  #totalEjections = 0;
  readonly #checks = { pass: 0, fail: 0 };
  #served = 0;
  #failed = 0;
  #health: HealthState = 'up';
  #admin: AdminState = 'ready';
  /** While draining: until when sticky sessions may still use the server. */
  #drainUntil = 0;
  #retiring = false;
  /** A reload handed this server's pool to its successor (so closing this server must not close it). */
  #poolHandedOver = false;
  /** The pool settings this server was built with; a reload keeps the pool when they are unchanged. */
  readonly poolKey: string;

  constructor(backend: string, index: number, cfg: ServerConfig, backendCfg: Pick<BackendConfig, 'pool' | 'timeouts' | 'tls'>, previous?: UpstreamServer) {
    this.backend = backend;
    this.name = cfg.name;
    this.id = `${backend}/${cfg.name}`;
    this.#index = index;
    this.url = cfg.url;
    this.#weight = cfg.weight;
    this.tier = cfg.tier ?? (cfg.backup ? 2 : 1);
    this.maxConnections = cfg.max_connections;
    const tls = cfg.url.protocol === 'https:' ? upstreamTls(backendCfg.tls) : undefined;
    this.poolKey = JSON.stringify([cfg.url.origin, cfg.max_connections, backendCfg.pool, backendCfg.timeouts, tls?.fingerprint]);
    if (previous) this.carryOver(previous);
    if (previous && previous.poolKey === this.poolKey) {
      this.pool = previous.pool;
      previous.#poolHandedOver = true;
      return;
    }
    const connections = cfg.max_connections > 0 ? Math.min(cfg.max_connections, backendCfg.pool.connections) : backendCfg.pool.connections;
    this.pool = createPool(cfg.url.origin, { client: backendCfg.pool.client, connections, keepAlive: backendCfg.pool.keep_alive, connectTimeout: backendCfg.timeouts.connect, tls: tls?.options });
  }

  /**
   * A reload: health, operator state and drain deadline, passive health, check and answer counts
   * survive. Not carried: the weight (the new config's), leases (they end on the old server),
   * latencies, retirement. The pool is handed over above when its settings are unchanged.
   */
  private carryOver(previous: UpstreamServer): void {
    this.#health = previous.#health;
    this.#admin = previous.#admin;
    this.#drainUntil = previous.#drainUntil;
    this.#ejectedUntil = previous.#ejectedUntil;
    this.#ejections = previous.#ejections;
    this.#consecutiveFailures = previous.#consecutiveFailures;
    this.#returnedAt = previous.#returnedAt;
    this.#totalEjections = previous.#totalEjections;
    this.#checks.pass = previous.#checks.pass;
    this.#checks.fail = previous.#checks.fail;
    this.#served = previous.#served;
    this.#failed = previous.#failed;
  }

  /** Position in its backend; balancers keep per-server state in arrays indexed by it (-1 once removed). */
  get index(): number {
    return this.#index;
  }
  get weight(): number {
    return this.#weight;
  }
  /** Requests dispatched and not yet finished (leases not released). */
  get inflight(): number {
    return this.#inflight;
  }
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }
  /** The current ejection back-off multiplier. */
  get ejections(): number {
    return this.#ejections;
  }
  /** Ejections since start. */
  get totalEjections(): number {
    return this.#totalEjections;
  }
  /** When the server last came back into rotation (slow start ramps from here). */
  get returnedAt(): number {
    return this.#returnedAt;
  }
  /** Active health check results since start. */
  get checks(): Readonly<{ pass: number; fail: number }> {
    return this.#checks;
  }
  /** Requests answered and 5xx among them (status pages compute rates from these). */
  get served(): number {
    return this.#served;
  }
  get failed(): number {
    return this.#failed;
  }
  /** Active health, set by the health checker (or the primary's results in a worker). */
  get health(): HealthState {
    return this.#health;
  }
  /** Operator control, set through the admin API (or relayed from another worker). */
  get admin(): AdminState {
    return this.#admin;
  }
  /** Discovery no longer finds it (`Backend.retire`); it leaves once idle. */
  get retiring(): boolean {
    return this.#retiring;
  }

  /** Count a request in; the lease counts it out once. `listener` (the backend) hears when it ends. */
  lease(listener?: LeaseListener): Lease {
    this.#inflight++;
    return new Lease(this, listener);
  }

  /** Called by `Lease.release` only. */
  [END_LEASE](): void {
    this.#inflight--;
  }

  /** A health result moved the server to `state`; coming back from down restarts slow start. False when nothing changed. */
  setHealth(state: HealthState, now: number): boolean {
    if (state === this.#health) return false;
    if (this.#health === 'down') this.#returnedAt = now;
    this.#health = state;
    return true;
  }

  /** Count one active health check. */
  recordCheck(pass: boolean): void {
    this.#checks[pass ? 'pass' : 'fail']++;
  }

  /**
   * An operator's state: `drain` keeps sticky sessions for `drainGraceMs`, `ready` restarts slow
   * start, `maint` takes all traffic away. False when the server already was in that state.
   */
  setAdmin(state: AdminState, now: number, drainGraceMs: number): boolean {
    if (state === this.#admin) return false;
    this.#admin = state;
    if (state === 'drain') this.#drainUntil = now + drainGraceMs;
    if (state === 'ready') this.#returnedAt = now;
    return true;
  }

  setWeight(weight: number): void {
    this.#weight = weight;
  }

  /** A server discovery added: its first health and the start of its slow start. */
  joined(health: HealthState, now: number): void {
    this.#health = health;
    this.#returnedAt = now;
  }

  /** Passive health: an attempt succeeded. */
  recordSuccess(): void {
    this.#consecutiveFailures = 0;
  }

  /** Passive health: an attempt failed; returns the failures in a row. */
  recordFailure(): number {
    return ++this.#consecutiveFailures;
  }

  /** Passive health: out of rotation until `until` (slow start ramps from then) with back-off `multiplier`. */
  eject(until: number, multiplier: number): void {
    this.#ejections = multiplier;
    this.#totalEjections++;
    this.#ejectedUntil = until;
    this.#returnedAt = until;
    this.#consecutiveFailures = 0;
  }

  ejected(now: number): boolean {
    return this.#ejectedUntil > now;
  }

  /** Discovery no longer finds it: no new requests or sticky sessions (its backend removes it once idle). */
  retire(): void {
    this.#retiring = true;
  }

  /** Found again while retiring: back in service. */
  recall(): void {
    this.#retiring = false;
  }

  /** Its backend renumbered its servers (-1: removed). */
  renumber(index: number): void {
    this.#index = index;
  }

  /** Record one finished exchange (status pages). */
  observe(latencyMs: number, status: number): void {
    this.#latencies.record(latencyMs);
    this.#served++;
    if (status >= 500) this.#failed++;
  }

  /** The 99th percentile of the recent response times, or undefined with no data. */
  p99(): number | undefined {
    return this.#latencies.p99();
  }

  /** In rotation for new requests: ready, healthy (or degraded), a weight above zero, not ejected, not retiring. */
  available(now: number): boolean {
    return !this.#retiring && this.inRotation(now);
  }

  /** Ready, healthy (or degraded), a weight above zero, not ejected: what `available` checks besides retirement. */
  inRotation(now: number): boolean {
    return this.#admin === 'ready' && this.#weight > 0 && this.serviceable(now);
  }

  /** May serve a request whose sticky cookie names it: also while draining, within the grace period; never while retiring. */
  availableForSticky(now: number): boolean {
    if (this.#retiring) return false;
    if (this.#admin === 'drain') return now < this.#drainUntil && this.serviceable(now);
    return this.inRotation(now);
  }

  /** Not down and not ejected: what every rotation rule asks of the server itself. */
  private serviceable(now: number): boolean {
    return this.#health !== 'down' && !this.ejected(now);
  }

  /** One word for status pages: retiring, maint, drain, down, ejected, degraded or up. */
  status(now: number): string {
    if (this.#retiring) return 'retiring';
    if (this.#admin !== 'ready') return this.#admin;
    if (this.#health === 'down') return 'down';
    if (this.ejected(now)) return 'ejected';
    return this.#health;
  }

  hasCapacity(): boolean {
    return this.maxConnections === 0 || this.#inflight < this.maxConnections;
  }

  /** The weight balancers use: ramped from 5 % to 100 % over `slowStartMs` after the server returned. */
  effectiveWeight(now: number, slowStartMs: number): number {
    if (slowStartMs <= 0) return this.#weight;
    const elapsed = now - this.#returnedAt;
    if (elapsed >= slowStartMs) return this.#weight;
    return this.#weight * Math.max(0.05, elapsed / slowStartMs);
  }

  /** Close the pool once its requests finished (unless a successor took it over). */
  close(): Promise<void> {
    return this.#poolHandedOver ? Promise.resolve() : this.pool.close();
  }

  destroy(): Promise<void> {
    return this.#poolHandedOver ? Promise.resolve() : this.pool.destroy();
  }
}
