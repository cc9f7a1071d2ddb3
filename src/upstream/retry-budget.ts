const BUCKET_MS = 1000;
const BUCKETS = 10;
const MIN_RETRIES = 3;

/**
 * Caps retries as a share of requests over the last 10 seconds (Envoy's retry budget), plus a
 * floor of 3 so a lightly used backend can still retry. Keeps a failing backend from being
 * hit by a retry storm.
 */
export class RetryBudget {
  private readonly share: number;
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private bucket = -1;

  constructor(share: number) {
    this.share = share;
  }

  private roll(now: number): number {
    const b = Math.floor(now / BUCKET_MS);
    if (b !== this.bucket) {
      const steps = this.bucket < 0 ? BUCKETS : Math.min(BUCKETS, b - this.bucket);
      for (let k = 1; k <= steps; k++) {
        const i = (this.bucket + k) % BUCKETS;
        this.requests[i < 0 ? i + BUCKETS : i] = 0;
        this.retries[i < 0 ? i + BUCKETS : i] = 0;
      }
      this.bucket = b;
    }
    return b % BUCKETS;
  }

  request(now: number): void {
    this.requests[this.roll(now)]!++;
  }

  /** Take one retry from the budget if it allows. */
  tryRetry(now: number): boolean {
    const i = this.roll(now);
    let req = 0;
    let ret = 0;
    for (let k = 0; k < BUCKETS; k++) {
      req += this.requests[k]!;
      ret += this.retries[k]!;
    }
    if (ret >= this.share * req + MIN_RETRIES) return false;
    this.retries[i]!++;
    return true;
  }
}
