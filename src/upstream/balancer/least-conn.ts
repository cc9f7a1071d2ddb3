import type { Balancer, BalancerContext } from './balancer.js';
import type { UpstreamServer } from '../server.js';

/** Fewest requests in flight per unit of weight; ties go round the candidates in turn. */
export class LeastConnBalancer implements Balancer {
  readonly name = 'least-conn';
  private next = 0;
  private readonly ctx: BalancerContext;

  constructor(_servers: readonly UpstreamServer[], ctx: BalancerContext) {
    this.ctx = ctx;
  }

  pick(candidates: readonly UpstreamServer[]): UpstreamServer | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const now = this.ctx.clock.now();
    const start = this.next++ % n;
    let best: UpstreamServer | undefined;
    let bestLoad = Infinity;
    for (let k = 0; k < n; k++) {
      const s = candidates[(start + k) % n]!;
      const load = (s.inflight + 1) / s.effectiveWeight(now, this.ctx.slowStartMs);
      if (load < bestLoad) {
        bestLoad = load;
        best = s;
      }
    }
    return best;
  }
}
