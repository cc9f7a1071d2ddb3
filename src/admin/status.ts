import type { Runtime } from '../server/runtime.js';
import type { UpstreamServer } from '../upstream/server.js';

export interface ServerStatus {
  name: string;
  id: string;
  url: string;
  status: string;
  health: string;
  admin: string;
  weight: number;
  tier: number;
  inflight: number;
  ejected: boolean;
  ejections: number;
}

export interface BackendStatus {
  name: string;
  balance: string;
  clusterDegraded: string | null;
  queued: number;
  servers: ServerStatus[];
}

export function serverStatus(s: UpstreamServer, now: number): ServerStatus {
  return { name: s.name, id: s.id, url: s.url.origin, status: s.status(now), health: s.health, admin: s.admin, weight: s.weight, tier: s.tier, inflight: s.inflight, ejected: s.ejectedUntil > now, ejections: s.ejections };
}

/** The picture the admin API, the CLI and (later) the dashboard show. */
export function runtimeStatus(rt: Runtime): { backends: BackendStatus[] } {
  return {
    backends: [...rt.backends.values()].map((b) => {
      const now = b.clock.now();
      return {
        name: b.name,
        balance: b.balancer.name,
        clusterDegraded: rt.checker(b.name)?.clusterDegraded ?? null,
        queued: b.queue.length,
        servers: b.servers.map((s) => serverStatus(s, now)),
      };
    }),
  };
}
