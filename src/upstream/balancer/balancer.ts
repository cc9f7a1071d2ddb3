import type { UpstreamServer } from '../server.js';

/** Chooses the server for one request. Implementations hold their own state; one per backend. */
export interface Balancer {
  readonly name: string;
  /** The server to try, or undefined when none can take the request. `exclude` lists servers already tried. */
  pick(exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined;
}
