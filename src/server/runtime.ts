import type { AirgateConfig } from '../config/schema.js';
import { Backend, type BackendDeps } from '../upstream/backend.js';
import type { Logger } from '../observability/logger.js';
import { Router } from './router.js';

/**
 * Everything built from one configuration snapshot: backends with their pools, and the
 * compiled router. Immutable once built; a request reads it once at entry and keeps it.
 */
export class Runtime {
  readonly config: AirgateConfig;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly router: Router;

  constructor(config: AirgateConfig, logger: Logger, deps: Omit<BackendDeps, 'onEject'> = {}) {
    this.config = config;
    const backends = new Map<string, Backend>();
    const onEject: BackendDeps['onEject'] = (server, forMs) => logger.warn({ server: server.id, ejections: server.ejections, forMs }, 'server ejected after consecutive failures');
    for (const [name, cfg] of Object.entries(config.backends)) backends.set(name, new Backend(name, cfg, { ...deps, onEject }));
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
