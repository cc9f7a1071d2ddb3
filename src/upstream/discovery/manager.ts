import type { AirgateConfig, ServerConfig } from '../../config/schema.js';
import type { Backend } from '../backend.js';
import type { HealthState } from '../health/state-machine.js';
import { DnsDiscovery, type DiscoveryLog, type DiscoveryStats, type Timers } from './dns-discovery.js';
import type { DnsClient } from './dns.js';
import { reconcile, type Plan } from './reconcile.js';

/** What the primary of `workers: N` tells its workers about each discovering backend. */
export type DiscoverySnapshot = Record<string, { servers: { name: string; url: string; weight: number; max_connections: number; backup: boolean; tier: number | undefined }[]; stats: DiscoveryStats }>;

export interface DiscoveryDeps {
  /** A DNS client per discovery config (tests); default: Node's resolver with the configured nameservers. */
  client?: (backend: string) => DnsClient | undefined;
  timers?: Timers;
}

/**
 * Change a backend's discovered servers to `wanted`, only through the backend's own methods
 * (`addServer`, `retire`). `health(server)`: the state a new server starts in.
 */
export function applyDiscovered(backend: Backend, wanted: readonly ServerConfig[], health: (s: ServerConfig) => HealthState): Plan {
  const current = [...backend.discovered.keys()].map((name) => ({ name, retiring: backend.server(name)?.retiring ?? false }));
  const plan = reconcile(wanted, current);
  for (const s of plan.add) backend.addServer(s, health(s));
  for (const name of plan.retire) backend.retire(name);
  return plan;
}

/**
 * Every backend's discovery, living across reloads: it resolves (`mode: 'resolve'`, one process
 * per machine) or takes the lists another process resolved (`'remote'`, a worker), and applies
 * them to the current runtime's backends. A new server starts down, so it enters rotation only
 * after passing its health checks (then slow start ramps it), unless health checks are off or
 * no server of the backend is in rotation at all (the first answer at start).
 */
export class DiscoveryManager {
  private readonly loops = new Map<string, DnsDiscovery>();
  private readonly remote = new Map<string, DiscoveryStats>();
  private readonly backends: () => ReadonlyMap<string, Backend>;
  private readonly log: DiscoveryLog;
  private readonly mode: 'resolve' | 'remote';
  private readonly deps: DiscoveryDeps;
  private readonly onChange: (backend: string, plan: Plan) => void;
  private started = false;
  private last: { snap: DiscoverySnapshot; health: Record<string, HealthState> } | undefined;

  constructor(backends: () => ReadonlyMap<string, Backend>, log: DiscoveryLog, onChange: (backend: string, plan: Plan) => void, mode: 'resolve' | 'remote' = 'resolve', deps: DiscoveryDeps = {}) {
    this.backends = backends;
    this.log = log;
    this.onChange = onChange;
    this.mode = mode;
    this.deps = deps;
  }

  /** Follow a (new) configuration: keep loops whose settings did not change, start new ones, stop the rest; re-apply what is known. */
  configure(config: AirgateConfig): void {
    if (this.mode === 'remote') {
      if (this.last) this.applyRemote(this.last.snap, this.last.health);
      return;
    }
    for (const [name, loop] of this.loops) {
      const cfg = config.backends[name]?.discovery;
      if (!cfg || JSON.stringify(cfg) !== JSON.stringify(loop.cfg)) {
        loop.stop();
        this.loops.delete(name);
      }
    }
    for (const [name, b] of Object.entries(config.backends)) {
      if (!b.discovery || this.loops.has(name)) continue;
      const loop = new DnsDiscovery(name, b.discovery, (servers) => this.apply(name, servers), this.log, { client: this.deps.client?.(name), timers: this.deps.timers });
      this.loops.set(name, loop);
      if (this.started) void loop.refresh().then((d) => loop.start(d));
    }
    for (const [name, loop] of this.loops) this.apply(name, loop.known);
  }

  /** The first lookup of every backend (awaited, so the gateway starts with servers), then the loops. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.loops.values()].map(async (loop) => loop.start(await loop.refresh())));
  }

  stop(): void {
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
  }

  private apply(name: string, servers: readonly ServerConfig[]): void {
    const backend = this.backends().get(name);
    const loop = this.loops.get(name);
    if (!backend) return;
    backend.discovery = loop?.stats;
    const now = backend.clock.now();
    const gate = backend.config.health.enabled && backend.servers.some((s) => s.available(now));
    const plan = applyDiscovered(backend, servers, () => (gate ? 'down' : 'up'));
    if (plan.add.length > 0 || plan.retire.length > 0) this.onChange(name, plan);
  }

  /** The lists and numbers to send to workers. */
  snapshot(): DiscoverySnapshot {
    const out: DiscoverySnapshot = {};
    for (const [name, loop] of this.loops) out[name] = { servers: loop.known.map((s) => ({ name: s.name, url: s.url.origin, weight: s.weight, max_connections: s.max_connections, backup: s.backup, tier: s.tier })), stats: loop.stats };
    return out;
  }

  /** A worker: apply the primary's lists; a new server starts in the state the primary's checks found (`health[id]`). */
  applyRemote(snap: DiscoverySnapshot, health: Record<string, HealthState>): void {
    this.last = { snap, health };
    for (const [name, d] of Object.entries(snap)) {
      const backend = this.backends().get(name);
      if (!backend) continue;
      const stats = this.remote.get(name) ?? d.stats;
      Object.assign(stats, d.stats);
      this.remote.set(name, stats);
      backend.discovery = stats;
      const servers: ServerConfig[] = d.servers.map((s) => ({ ...s, url: new URL(s.url) }));
      const plan = applyDiscovered(backend, servers, (s) => health[`${name}/${s.name}`] ?? 'down');
      if (plan.add.length > 0 || plan.retire.length > 0) this.onChange(name, plan);
    }
  }
}
