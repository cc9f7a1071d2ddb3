/**
 * GCRA (the generic cell rate algorithm, as in HAProxy and Redis-cell): one number per key —
 * the theoretical arrival time — so a limiter is a bounded map. A flood of distinct keys evicts
 * the oldest entries instead of growing memory without limit.
 */
export class GcraStore {
  private readonly tat = new Map<string, number>();
  readonly maxKeys: number;

  constructor(maxKeys: number) {
    this.maxKeys = maxKeys;
  }

  get size(): number {
    return this.tat.size;
  }

  /**
   * Take one token for `key` at `now`: `emissionMs` = the time one token takes to refill,
   * `burst` = the bucket size. Returns whether it was allowed, what remains and when to retry.
   */
  take(key: string, now: number, emissionMs: number, burst: number): { allowed: boolean; remaining: number; retryAfterMs: number; resetMs: number } {
    const tolerance = emissionMs * (burst - 1);
    const prev = this.tat.get(key);
    const tat = prev === undefined || prev < now ? now : prev;
    const next = tat + emissionMs;
    const allowAt = next - tolerance - emissionMs;
    if (allowAt > now) {
      return { allowed: false, remaining: 0, retryAfterMs: allowAt - now, resetMs: tat - now };
    }
    if (prev === undefined && this.tat.size >= this.maxKeys) {
      // Drop the oldest tenth: Map iteration order is insertion order.
      let drop = Math.ceil(this.maxKeys / 10);
      for (const k of this.tat.keys()) {
        this.tat.delete(k);
        if (--drop === 0) break;
      }
    }
    this.tat.delete(key);
    this.tat.set(key, next);
    const remaining = Math.max(0, Math.floor((now + tolerance + emissionMs - next) / emissionMs));
    return { allowed: true, remaining, retryAfterMs: 0, resetMs: next - now };
  }
}
