import type { Balancer, BalancerContext } from './balancer.js';
import type { UpstreamServer } from '../server.js';
import { pickTwo } from './random-two.js';

/** Latency assumed for a server with no observation yet, so new servers get tried. */
const DEFAULT_RTT_MS = 1;

/**
 * Peak EWMA (Finagle, Linkerd): each server's cost is a moving peak of its response latency
 * times the requests in flight to it (plus one). A slower observation replaces the estimate at
 * once (the peak); faster ones pull it down with weight e^(−Δt/decay). While a server gets no
 * traffic its estimate decays toward zero, so a server that was slow is tried again after a
 * while and wins back traffic once it answers quickly. Two candidates are drawn at random and
 * the cheaper one wins (power of two choices), which keeps herds off the single best server.
 */
export class PeakEwmaBalancer implements Balancer {
  readonly name = 'peak-ewma';
  private readonly rtt: number[];
  private readonly at: number[];
  private readonly ctx: BalancerContext;
  private readonly decayMs: number;

  constructor(servers: readonly UpstreamServer[], ctx: BalancerContext, decayMs: number) {
    this.rtt = servers.map(() => DEFAULT_RTT_MS);
    this.at = servers.map(() => ctx.clock.now());
    this.ctx = ctx;
    this.decayMs = decayMs;
  }

  /** The latency estimate of a server now, decayed for the time since it was last updated. */
  estimate(server: UpstreamServer, now: number): number {
    const elapsed = now - this.at[server.index]!;
    return elapsed > 0 ? this.rtt[server.index]! * Math.exp(-elapsed / this.decayMs) : this.rtt[server.index]!;
  }

  /** Latency times load. Weight is not in the cost: it already decides how often a server is drawn. */
  cost(server: UpstreamServer, now: number): number {
    return this.estimate(server, now) * (server.inflight + 1);
  }

  pick(candidates: readonly UpstreamServer[]): UpstreamServer | undefined {
    const now = this.ctx.clock.now();
    const [a, b] = pickTwo(candidates, this.ctx, now);
    if (!b) return a;
    // A tie goes to the first (weighted) draw, so equal servers share traffic by weight.
    return this.cost(b, now) < this.cost(a!, now) ? b : a;
  }

  observe(server: UpstreamServer, latencyMs: number): void {
    const i = server.index;
    const now = this.ctx.clock.now();
    const current = this.estimate(server, now);
    if (latencyMs > current) {
      this.rtt[i] = latencyMs;
    } else {
      const w = Math.exp(-(now - this.at[i]!) / this.decayMs);
      this.rtt[i] = current * w + latencyMs * (1 - w);
    }
    this.at[i] = now;
  }
}
