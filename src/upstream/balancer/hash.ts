import type { Balancer, PickInput } from './balancer.js';
import type { UpstreamServer } from '../server.js';

const POINTS_PER_WEIGHT = 160;

/** FNV-1a, 32 bits: fast and well spread for short keys. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix32) so similar keys land far apart on the ring
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Consistent hashing on a ring (160 points per unit of weight, placed by server *name*, so
 * a server joining or leaving moves only about 1/N of the keys) with bounded loads (Mirrokni,
 * Thorup, Zadimoghaddam; HAProxy `hash-balance-factor`): a server already carrying more than
 * `balanceFactor` × the average in-flight load is skipped and the walk continues clockwise.
 */
export class HashBalancer implements Balancer {
  readonly name = 'hash';
  private readonly points: Uint32Array;
  private readonly owners: UpstreamServer[];
  private readonly balanceFactor: number;
  private readonly fallback: Balancer;

  constructor(servers: readonly UpstreamServer[], balanceFactor: number, fallback: Balancer) {
    const entries: { point: number; server: UpstreamServer }[] = [];
    for (const s of servers) {
      const n = Math.max(1, s.weight) * POINTS_PER_WEIGHT;
      for (let i = 0; i < n; i++) entries.push({ point: fnv1a(`${s.name}#${i}`), server: s });
    }
    entries.sort((a, b) => a.point - b.point);
    this.points = Uint32Array.from(entries.map((e) => e.point));
    this.owners = entries.map((e) => e.server);
    this.balanceFactor = balanceFactor;
    this.fallback = fallback;
  }

  pick(candidates: readonly UpstreamServer[], input: PickInput): UpstreamServer | undefined {
    if (input.hashKey === undefined || candidates.length === 0) return this.fallback.pick(candidates, input);
    let total = 0;
    for (const c of candidates) total += c.inflight;
    // The request being placed counts too; ceil keeps at least one slot per server.
    const limit = Math.ceil((this.balanceFactor * (total + 1)) / candidates.length);
    const start = this.lowerBound(fnv1a(input.hashKey));
    const n = this.points.length;
    for (let k = 0; k < n; k++) {
      const s = this.owners[(start + k) % n]!;
      if (s.inflight < limit && candidates.includes(s)) return s;
    }
    return this.fallback.pick(candidates, input);
  }

  private lowerBound(h: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.points.length ? 0 : lo;
  }
}
