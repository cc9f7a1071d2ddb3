import { Pool } from 'undici';
import { LeanPool } from './lean/pool.js';
import type { LeanDispatchOptions, LeanHandler } from './lean/pending.js';

/** Which HTTP/1.1 client carries upstream requests (`upstream.client`). */
export type UpstreamClient = 'lean' | 'undici';

/** What callers of a server's pool use; undici's `Pool` and `LeanPool` both satisfy it. */
export interface UpstreamPool {
  /** Requests in flight and waiting, connections open (undici's `PoolStats` names). */
  readonly stats: { readonly running: number; readonly queued: number; readonly connected: number; readonly free: number };
  dispatch(opts: LeanDispatchOptions, handler: LeanHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** One server's pool settings, whichever client carries them. */
export interface PoolSettings {
  client: UpstreamClient;
  connections: number;
  keepAlive: number;
  connectTimeout: number;
  tls: Record<string, unknown> | undefined;
}

/** Build a server's connection pool with the configured client; both get the same settings. */
export function createPool(origin: string, s: PoolSettings): UpstreamPool {
  // Per-request values come from the route; these are only fallbacks.
  const headersTimeout = 60_000;
  const bodyTimeout = 300_000;
  if (s.client === 'lean') return new LeanPool(origin, { connections: s.connections, keepAliveTimeout: s.keepAlive, connectTimeout: s.connectTimeout, tls: s.tls, headersTimeout, bodyTimeout });
  const pool = new Pool(origin, {
    connections: s.connections,
    pipelining: 1,
    keepAliveTimeout: s.keepAlive,
    keepAliveMaxTimeout: s.keepAlive,
    connect: { timeout: s.connectTimeout, ...s.tls },
    headersTimeout,
    bodyTimeout,
  });
  return pool;
}
