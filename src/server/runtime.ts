import type { AirgateConfig } from '../config/schema.js';
import { Backend } from '../upstream/backend.js';
import { Router } from './router.js';

/**
 * Everything built from one configuration snapshot: backends with their pools, and the
 * compiled router. Immutable once built; a request reads it once at entry and keeps it.
 */
export class Runtime {
  readonly config: AirgateConfig;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly router: Router;

  constructor(config: AirgateConfig) {
    this.config = config;
    const backends = new Map<string, Backend>();
    for (const [name, cfg] of Object.entries(config.backends)) backends.set(name, new Backend(name, cfg));
    this.backends = backends;
    this.router = new Router(config.routes, backends);
  }

  async close(): Promise<void> {
    await Promise.all([...this.backends.values()].map((b) => b.close()));
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.backends.values()].map((b) => b.destroy()));
  }
}
