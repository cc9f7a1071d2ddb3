import type { BackendConfig } from '../config/schema.js';
import { UpstreamServer } from './server.js';
import type { Balancer } from './balancer/balancer.js';
import { RoundRobinBalancer } from './balancer/round-robin.js';

/** A named group of interchangeable Airflow servers behind one balancer. */
export class Backend {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly balancer: Balancer;

  constructor(name: string, cfg: BackendConfig) {
    this.name = name;
    this.servers = cfg.servers.map((s) => new UpstreamServer(name, s, cfg.pool, cfg.timeouts));
    this.balancer = new RoundRobinBalancer(this.servers);
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}
