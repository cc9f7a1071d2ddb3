import type { Balancer, BalancerContext } from './balancer.js';
import type { UpstreamServer } from '../server.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every candidate's weight to
 * its score, takes the highest, and subtracts the total from it. Heavy servers are spread evenly
 * instead of in bursts.
 */
export class RoundRobinBalancer implements Balancer {
  readonly name = 'round-robin';
  private readonly current: number[];
  private readonly ctx: BalancerContext;

  constructor(servers: readonly UpstreamServer[], ctx: BalancerContext) {
    this.current = servers.map(() => 0);
    this.ctx = ctx;
  }

  pick(candidates: readonly UpstreamServer[]): UpstreamServer | undefined {
    const { current } = this;
    const now = this.ctx.slowStartMs > 0 ? this.ctx.clock.now() : 0;
    let best: UpstreamServer | undefined;
    let total = 0;
    for (let i = 0; i < candidates.length; i++) {
      const s = candidates[i]!;
      const w = this.ctx.slowStartMs > 0 ? s.effectiveWeight(now, this.ctx.slowStartMs) : s.weight;
      current[s.index]! += w;
      total += w;
      if (best === undefined || current[s.index]! > current[best.index]!) best = s;
    }
    if (best) current[best.index]! -= total;
    return best;
  }
}
