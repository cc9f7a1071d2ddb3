import { Pool } from 'undici';
import type { BackendConfig, ServerConfig } from '../config/schema.js';

/** One Airflow webserver / API server: its identity, its connection pool, its live counters. */
export class UpstreamServer {
  readonly backend: string;
  readonly name: string;
  /** `backend/name`, the id operators use (e.g. `airflow/web-2`). */
  readonly id: string;
  readonly url: URL;
  readonly weight: number;
  readonly pool: Pool;
  /** Requests dispatched and not yet finished. */
  inflight = 0;

  constructor(backend: string, cfg: ServerConfig, poolCfg: BackendConfig['pool'], timeouts: BackendConfig['timeouts']) {
    this.backend = backend;
    this.name = cfg.name;
    this.id = `${backend}/${cfg.name}`;
    this.url = cfg.url;
    this.weight = cfg.weight;
    this.pool = new Pool(cfg.url.origin, {
      connections: poolCfg.connections,
      pipelining: 1,
      keepAliveTimeout: poolCfg.keep_alive,
      keepAliveMaxTimeout: poolCfg.keep_alive,
      connect: { timeout: timeouts.connect },
      // Per-request values come from the route; these are only fallbacks.
      headersTimeout: 60_000,
      bodyTimeout: 300_000,
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
