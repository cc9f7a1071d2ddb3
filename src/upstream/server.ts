import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { BackendConfig, ServerConfig } from '../config/schema.js';
import type { HealthState } from './health/state-machine.js';
import { createPool, type UpstreamPool } from './pool-factory.js';

/** What an operator asked for: in rotation, no new sessions, or no traffic at all. */
export type AdminState = 'ready' | 'drain' | 'maint';

/** One Airflow webserver / API server: its identity, its connection pool, its live state. */
export class UpstreamServer {
  readonly backend: string;
  readonly name: string;
  /** `backend/name`, the id operators use (e.g. `airflow/web-2`). */
  readonly id: string;
  /** Position in its backend; balancers keep per-server state in arrays indexed by it. Renumbered by the backend when discovery adds or removes servers (-1 once removed). */
  index: number;
  readonly url: URL;
  readonly tier: number;
  /** Requests in flight at most (0: no limit). */
  readonly maxConnections: number;
  readonly pool: UpstreamPool;
  weight: number;
  /** Requests dispatched and not yet finished. */
  inflight = 0;
  /** Passive health (outlier detection). */
  consecutiveFailures = 0;
  ejectedUntil = 0;
  ejections = 0;
  /** When the server last came back into rotation (slow start ramps from here). */
  returnedAt = Number.NEGATIVE_INFINITY;
  /** Ejections since start (ejections above is the current back-off multiplier). */
  totalEjections = 0;
  /** Active health check results since start. */
  readonly checks = { pass: 0, fail: 0 };
  /** Recent response times in ms (ring buffer) for p99 on status pages. */
  readonly latencies = new Float64Array(256);
  latencyCount = 0;
  /** Requests answered and 5xx among them (status pages compute rates from these). */
  served = 0;
  failed = 0;
  /** Active health, set by the health checker only. */
  health: HealthState = 'up';
  /** Operator control, set through the admin API only. */
  admin: AdminState = 'ready';
  /** While draining: until when sticky sessions may still use the server. */
  drainUntil = 0;
  /** Discovery no longer finds it: set by its backend only (`Backend.retire`); it leaves once idle. */
  retiring = false;

  /** The pool settings this server was built with; a reload keeps the pool when they are unchanged. */
  readonly poolKey: string;
  /** Set when a reload handed this server's pool to its successor (so retiring it must not close it). */
  poolHandedOver = false;

  constructor(backend: string, index: number, cfg: ServerConfig, backendCfg: Pick<BackendConfig, 'pool' | 'timeouts' | 'tls'>, previous?: UpstreamServer) {
    this.backend = backend;
    this.name = cfg.name;
    this.id = `${backend}/${cfg.name}`;
    this.index = index;
    this.url = cfg.url;
    this.weight = cfg.weight;
    this.tier = cfg.tier ?? (cfg.backup ? 2 : 1);
    this.maxConnections = cfg.max_connections;
    const tls = cfg.url.protocol === 'https:' ? upstreamTls(backendCfg.tls) : undefined;
    this.poolKey = JSON.stringify([cfg.url.origin, cfg.max_connections, backendCfg.pool, backendCfg.timeouts, tls?.fingerprint]);
    if (previous) {
      // A reload: carry over what was learned about this server.
      this.health = previous.health;
      this.admin = previous.admin;
      this.drainUntil = previous.drainUntil;
      this.ejectedUntil = previous.ejectedUntil;
      this.ejections = previous.ejections;
      this.consecutiveFailures = previous.consecutiveFailures;
      this.returnedAt = previous.returnedAt;
      this.totalEjections = previous.totalEjections;
      this.checks.pass = previous.checks.pass;
      this.checks.fail = previous.checks.fail;
      this.served = previous.served;
      this.failed = previous.failed;
    }
    if (previous && previous.poolKey === this.poolKey) {
      this.pool = previous.pool;
      previous.poolHandedOver = true;
      return;
    }
    const connections = cfg.max_connections > 0 ? Math.min(cfg.max_connections, backendCfg.pool.connections) : backendCfg.pool.connections;
    this.pool = createPool(cfg.url.origin, { client: backendCfg.pool.client, connections, keepAlive: backendCfg.pool.keep_alive, connectTimeout: backendCfg.timeouts.connect, tls: tls?.options });
  }

  /** Record one finished exchange (status pages). */
  observe(latencyMs: number, status: number): void {
    this.latencies[this.latencyCount++ & 255] = latencyMs;
    this.served++;
    if (status >= 500) this.failed++;
  }

  /** The 99th percentile of the recent response times, or undefined with no data. */
  p99(): number | undefined {
    const n = Math.min(this.latencyCount, 256);
    if (n === 0) return undefined;
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor(n * 0.99))];
  }

  /** In rotation for new requests: ready, healthy (or degraded), a weight above zero, not ejected, not retiring. */
  available(now: number): boolean {
    return !this.retiring && this.inRotation(now);
  }

  /** Ready, healthy (or degraded), a weight above zero, not ejected: what `available` checks besides retirement. */
  inRotation(now: number): boolean {
    return this.admin === 'ready' && this.health !== 'down' && this.weight > 0 && this.ejectedUntil <= now;
  }

  /** May serve a request whose sticky cookie names it: also while draining, within the grace period; never while retiring. */
  availableForSticky(now: number): boolean {
    if (this.retiring) return false;
    if (this.admin === 'drain') return now < this.drainUntil && this.health !== 'down' && this.ejectedUntil <= now;
    return this.available(now);
  }

  /** One word for status pages: retiring, maint, drain, down, ejected, degraded or up. */
  status(now: number): string {
    if (this.retiring) return 'retiring';
    if (this.admin !== 'ready') return this.admin;
    if (this.health === 'down') return 'down';
    if (this.ejectedUntil > now) return 'ejected';
    return this.health;
  }

  hasCapacity(): boolean {
    return this.maxConnections === 0 || this.inflight < this.maxConnections;
  }

  /** The weight balancers use: ramped from 5 % to 100 % over `slowStartMs` after the server returned. */
  effectiveWeight(now: number, slowStartMs: number): number {
    if (slowStartMs <= 0) return this.weight;
    const elapsed = now - this.returnedAt;
    if (elapsed >= slowStartMs) return this.weight;
    return this.weight * Math.max(0.05, elapsed / slowStartMs);
  }

  /** Close the pool once its requests finished (unless a successor took it over). */
  close(): Promise<void> {
    return this.poolHandedOver ? Promise.resolve() : this.pool.close();
  }

  destroy(): Promise<void> {
    return this.poolHandedOver ? Promise.resolve() : this.pool.destroy();
  }
}

/**
 * TLS options for an https:// server: verification on unless `verify: false`, an optional CA
 * bundle, SNI name and client certificate (mTLS). Files are read when the runtime is built; the
 * fingerprint lets a reload keep the pool only when nothing changed.
 */
export function upstreamTls(cfg: BackendConfig['tls']): { options: Record<string, unknown>; fingerprint: string } {
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const ca = read(cfg?.ca);
  const cert = read(cfg?.cert);
  const key = read(cfg?.key);
  const options: Record<string, unknown> = { rejectUnauthorized: cfg?.verify ?? true };
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if (cfg?.servername) options.servername = cfg.servername;
  const h = createHash('sha256');
  for (const part of [ca, cert, key]) h.update(part ?? '-');
  h.update(JSON.stringify([cfg?.servername, cfg?.verify]));
  return { options, fingerprint: h.digest('hex') };
}
