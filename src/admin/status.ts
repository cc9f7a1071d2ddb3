import type { Runtime } from '../server/runtime.js';
import type { UpstreamServer } from '../upstream/server.js';
import type { Observer } from '../observability/observer.js';
import type { GatewayEvent } from '../observability/events.js';
import { PeakEwmaBalancer } from '../upstream/balancer/peak-ewma.js';
import type { DiscoveryStats } from '../upstream/discovery/dns-discovery.js';

export interface ServerStatus {
  name: string;
  id: string;
  url: string;
  status: string;
  /** `config` for a fixed server, `dns` for one discovery found. */
  source: 'config' | 'dns';
  health: string;
  admin: string;
  weight: number;
  tier: number;
  inflight: number;
  ejected: boolean;
  ejections: number;
  /**
   * Requests whose answer the client got from this server, and the 5xx among them (a gateway 502
   * after this server failed counts; an attempt retried on another server does not), since start.
   */
  served: number;
  failed: number;
  /** Latency estimate of the peak-EWMA balancer (ms), when the backend uses it. */
  ewmaMs: number | null;
  /** 99th percentile of the last 256 responses (ms). */
  p99Ms: number | null;
}

export interface BackendStatus {
  name: string;
  balance: string;
  clusterDegraded: string | null;
  queued: number;
  secretKeyDrift: boolean;
  /** DNS discovery's lookups, failures and last answer, when the backend has discovery. */
  discovery: DiscoveryStats | null;
  servers: ServerStatus[];
}

export function serverStatus(s: UpstreamServer, now: number, ewmaMs: number | null, answered: { served: number; failed: number }, source: 'config' | 'dns' = 'config'): ServerStatus {
  const p99 = s.p99();
  return {
    name: s.name,
    id: s.id,
    url: s.url.origin,
    status: s.status(now),
    source,
    health: s.health,
    admin: s.admin,
    weight: s.weight,
    tier: s.tier,
    inflight: s.inflight,
    ejected: s.ejected(now),
    ejections: s.totalEjections,
    served: answered.served,
    failed: answered.failed,
    ewmaMs: ewmaMs === null ? null : Math.round(ewmaMs * 100) / 100,
    p99Ms: p99 === undefined ? null : Math.round(p99 * 100) / 100,
  };
}

/** The picture the admin API, the CLI and (later) the dashboard show. */
export interface CertificateStatus {
  listener: string;
  name: string;
  notAfter: string;
  expiresInSeconds: number;
}

export function runtimeStatus(rt: Runtime, observer: Observer): { time: string; backends: BackendStatus[]; certificates: CertificateStatus[]; events: GatewayEvent[] } {
  return {
    time: new Date().toISOString(),
    certificates: observer.certificates().map((c) => ({ listener: c.listener, name: c.name, notAfter: c.notAfter.toISOString(), expiresInSeconds: Math.round((c.notAfter.getTime() - Date.now()) / 1000) })),
    backends: [...rt.backends.values()].map((b) => {
      const now = b.clock.now();
      const ewma = b.balancer instanceof PeakEwmaBalancer ? b.balancer : undefined;
      return {
        name: b.name,
        balance: b.balancer.name,
        clusterDegraded: rt.clusterDegraded(b.name) ?? null,
        queued: b.queue.length,
        secretKeyDrift: observer.drift.active().has(b.name),
        discovery: b.discovery ? { ...b.discovery } : null,
        servers: b.servers.map((s) => serverStatus(s, now, ewma ? ewma.estimate(s, now) : null, observer.metrics.answeredBy(b.name, s.name), b.discovered.has(s.name) ? 'dns' : 'config')),
      };
    }),
    events: observer.events.items.slice(0, 30),
  };
}
