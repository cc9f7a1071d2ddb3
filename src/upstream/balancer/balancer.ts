import type { Clock, Random } from '../../core/clock.js';
import type { UpstreamServer } from '../server.js';

/** What a balancer may know about the request. */
export interface PickInput {
  /** The consistent-hashing key (`balance: hash`), when the backend uses one. */
  hashKey: string | undefined;
}

/** Shared by a backend's balancer: injected time and randomness, and the slow-start ramp. */
export interface BalancerContext {
  clock: Clock;
  random: Random;
  slowStartMs: number;
}

/**
 * Chooses the server for one request among `candidates`: servers already known to be in
 * rotation, of the best available tier, with capacity and not yet tried for this request.
 * One instance per backend; state is kept per server index.
 */
export interface Balancer {
  readonly name: string;
  pick(candidates: readonly UpstreamServer[], input: PickInput): UpstreamServer | undefined;
  /** Latency of a finished attempt (time to response headers), for balancers that learn from it. */
  observe?(server: UpstreamServer, latencyMs: number): void;
}
