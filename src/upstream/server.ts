import { Pool } from 'undici';
import type { BackendConfig, ServerConfig } from '../config/schema.js';

/** One Airflow webserver / API server: its identity, its connection pool, its live state. */
export class UpstreamServer {
  readonly backend: string;
  readonly name: string;
  /** `backend/name`, the id operators use (e.g. `airflow/web-2`). */
  readonly id: string;
  /** Position in its backend; balancers keep per-server state in arrays indexed by it. */
  readonly index: number;
  readonly url: URL;
  readonly tier: number;
  /** Requests in flight at most (0: no limit). */
  readonly maxConnections: number;
  readonly pool: Pool;
  weight: number;
  /** Requests dispatched and not yet finished. */
  inflight = 0;
  /** Passive health (outlier detection). */
  consecutiveFailures = 0;
  ejectedUntil = 0;
  ejections = 0;
  /** When the server last came back into rotation (slow start ramps from here). */
  returnedAt = Number.NEGATIVE_INFINITY;

  constructor(backend: string, index: number, cfg: ServerConfig, backendCfg: Pick<BackendConfig, 'pool' | 'timeouts'>) {
    this.backend = backend;
    this.name = cfg.name;
    this.id = `${backend}/${cfg.name}`;
    this.index = index;
    this.url = cfg.url;
    this.weight = cfg.weight;
    this.tier = cfg.tier ?? (cfg.backup ? 2 : 1);
    this.maxConnections = cfg.max_connections;
    this.pool = new Pool(cfg.url.origin, {
      connections: cfg.max_connections > 0 ? Math.min(cfg.max_connections, backendCfg.pool.connections) : backendCfg.pool.connections,
      pipelining: 1,
      keepAliveTimeout: backendCfg.pool.keep_alive,
      keepAliveMaxTimeout: backendCfg.pool.keep_alive,
      connect: { timeout: backendCfg.timeouts.connect },
      // Per-request values come from the route; these are only fallbacks.
      headersTimeout: 60_000,
      bodyTimeout: 300_000,
    });
  }

  /** In rotation: a weight above zero and not ejected. */
  available(now: number): boolean {
    return this.weight > 0 && this.ejectedUntil <= now;
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

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
