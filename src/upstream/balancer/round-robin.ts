import type { Balancer } from './balancer.js';
import type { UpstreamServer } from '../server.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every server's weight to
 * its current score, takes the highest, and subtracts the total from it. Spreads heavy
 * servers evenly instead of in bursts.
 */
export class RoundRobinBalancer implements Balancer {
  readonly name = 'round-robin';
  private readonly servers: readonly UpstreamServer[];
  private readonly current: number[];

  constructor(servers: readonly UpstreamServer[]) {
    this.servers = servers;
    this.current = servers.map(() => 0);
  }

  pick(exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    let best = -1;
    let total = 0;
    const { servers, current } = this;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (s.weight === 0 || exclude?.has(s)) continue;
      current[i]! += s.weight;
      total += s.weight;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best < 0) return undefined;
    current[best]! -= total;
    return servers[best];
  }
}
