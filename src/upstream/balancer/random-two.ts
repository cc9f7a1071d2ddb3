import type { Balancer, BalancerContext } from './balancer.js';
import type { UpstreamServer } from '../server.js';

/** Two distinct candidates drawn at random (weighted); the less loaded one wins. */
export function pickTwo(candidates: readonly UpstreamServer[], ctx: BalancerContext, now: number): [UpstreamServer, UpstreamServer] | [UpstreamServer] | [] {
  const n = candidates.length;
  if (n <= 1) return n === 1 ? [candidates[0]!] : [];
  let total = 0;
  for (const s of candidates) total += s.effectiveWeight(now, ctx.slowStartMs);
  const a = weightedIndex(candidates, ctx, now, ctx.random() * total, -1);
  const wa = candidates[a]!.effectiveWeight(now, ctx.slowStartMs);
  const b = weightedIndex(candidates, ctx, now, ctx.random() * (total - wa), a);
  return [candidates[a]!, candidates[b]!];
}

function weightedIndex(candidates: readonly UpstreamServer[], ctx: BalancerContext, now: number, target: number, skip: number): number {
  let acc = 0;
  let last = -1;
  for (let i = 0; i < candidates.length; i++) {
    if (i === skip) continue;
    last = i;
    acc += candidates[i]!.effectiveWeight(now, ctx.slowStartMs);
    if (target < acc) return i;
  }
  return last;
}

/** Power of two choices on requests in flight per unit of weight. */
export class RandomTwoBalancer implements Balancer {
  readonly name = 'random-two';
  private readonly ctx: BalancerContext;

  constructor(_servers: readonly UpstreamServer[], ctx: BalancerContext) {
    this.ctx = ctx;
  }

  pick(candidates: readonly UpstreamServer[]): UpstreamServer | undefined {
    const now = this.ctx.clock.now();
    const [a, b] = pickTwo(candidates, this.ctx, now);
    if (!b) return a;
    // No "+1": the draw is already weighted, so at equal load per weight the first draw must win (weight 2:1:1 → 50/25/25).
    const la = a!.inflight / a!.effectiveWeight(now, this.ctx.slowStartMs);
    const lb = b.inflight / b.effectiveWeight(now, this.ctx.slowStartMs);
    return lb < la ? b : a;
  }
}
