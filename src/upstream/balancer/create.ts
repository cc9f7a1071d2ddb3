import type { BackendConfig } from '../../config/schema.js';
import type { UpstreamServer } from '../server.js';
import type { Balancer, BalancerContext } from './balancer.js';
import { HashBalancer } from './hash.js';
import { LeastConnBalancer } from './least-conn.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomTwoBalancer } from './random-two.js';
import { RoundRobinBalancer } from './round-robin.js';

/** The balancer a backend's `balance:` names. */
export function createBalancer(cfg: BackendConfig, servers: readonly UpstreamServer[], ctx: BalancerContext): Balancer {
  switch (cfg.balance) {
    case 'round-robin':
      return new RoundRobinBalancer(servers, ctx);
    case 'least-conn':
      return new LeastConnBalancer(servers, ctx);
    case 'random-two':
      return new RandomTwoBalancer(servers, ctx);
    case 'hash':
      return new HashBalancer(servers, cfg.hash?.balance_factor ?? 1.25, new LeastConnBalancer(servers, ctx));
    case 'peak-ewma':
      return new PeakEwmaBalancer(servers, ctx, cfg.peak_ewma.decay);
  }
}
