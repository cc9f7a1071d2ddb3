/** The last 256 response times in ms, for the p99 status pages show. */
export class LatencyRing {
  private readonly values = new Float64Array(256);
  private count = 0;

  record(ms: number): void {
    this.values[this.count++ & 255] = ms;
  }

  /** The 99th percentile of the recent response times, or undefined with no data. */
  p99(): number | undefined {
    const n = Math.min(this.count, 256);
    if (n === 0) return undefined;
    const sorted = Array.from(this.values.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor(n * 0.99))];
  }
}
