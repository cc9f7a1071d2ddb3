/** A GCRA store other processes share: Redis across machines, or the primary across workers. */
export interface SharedCounter {
  take(key: string, now: number, emissionMs: number, burst: number): Promise<{ allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number }>;
  /** True while the shared store is unreachable and counting is local. */
  readonly degraded: boolean;
  close(): void;
}
