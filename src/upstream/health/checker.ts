import type { BackendConfig } from '../../config/schema.js';
import type { Clock, Random } from '../../core/clock.js';
import type { UpstreamServer } from '../server.js';
import type { AirflowComponents } from './airflow-health.js';
import { Prober, type ProbeResult } from './probe.js';
import { HealthStateMachine, nextCheckDelay, type CheckOutcome, type Transition } from './state-machine.js';

export interface HealthEvents {
  /** A server changed state; `tookMs`: from the first result pointing to the new state until now. */
  transition(server: UpstreamServer, t: Transition, tookMs: number, probe: ProbeResult): void;
  /** The whole cluster's metadatabase or scheduler turned unhealthy (reason) or healthy again (undefined). */
  cluster(backend: string, degradedReason: string | undefined): void;
}

interface ServerHealth {
  machine: HealthStateMachine;
  timer: NodeJS.Timeout | undefined;
  components: AirflowComponents | undefined;
  /** When `components` was measured. */
  componentsAt: number;
  /** Since when this node has reported a component failing (undefined while it reports none). */
  componentFailingSince: number | undefined;
  streakStartedAt: number;
}

/**
 * Active health checks for one backend. Each server is checked on its own timer; results feed a
 * rise/fall state machine whose state the server carries (set through `server.setHealth`, the
 * checker's only write besides `recordCheck`), which is all the balancer sees. In Airflow mode
 * the body decides: a node whose metadatabase or scheduler check fails while its peers' pass is
 * failing; when every answering node reports the same failure, it
 * is the shared component that is sick, so no node is taken out and the cluster is reported
 * degraded instead.
 */
export class HealthChecker {
  readonly backend: string;
  /** Why the cluster is degraded, or undefined when it is not. */
  clusterDegraded: string | undefined;
  private readonly servers: readonly UpstreamServer[];
  private readonly cfg: BackendConfig;
  private readonly prober: Prober;
  private readonly state = new Map<UpstreamServer, ServerHealth>();
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly events: HealthEvents;
  private stopped = false;
  private started = false;

  constructor(backend: string, servers: readonly UpstreamServer[], cfg: BackendConfig, deps: { clock: Clock; random: Random }, events: HealthEvents) {
    this.backend = backend;
    this.servers = servers;
    this.cfg = cfg;
    this.clock = deps.clock;
    this.random = deps.random;
    this.events = events;
    this.prober = new Prober(cfg);
    for (const s of servers) this.track(s);
  }

  private track(s: UpstreamServer): void {
    this.state.set(s, { machine: new HealthStateMachine(this.cfg.health.rise, this.cfg.health.fall, s.health), timer: undefined, components: undefined, componentsAt: 0, componentFailingSince: undefined, streakStartedAt: 0 });
  }

  /** Start checking every server now (the first round runs at once). */
  start(): void {
    this.started = true;
    for (const s of this.servers) void this.check(s);
  }

  /** A server joined the backend (discovery): check it from now on, starting at once. */
  add(server: UpstreamServer): void {
    if (this.state.has(server)) return;
    this.track(server);
    if (this.started && !this.stopped) void this.check(server);
  }

  /** A server left the backend: stop checking it. */
  remove(server: UpstreamServer): void {
    const st = this.state.get(server);
    if (!st) return;
    clearTimeout(st.timer);
    this.state.delete(server);
  }

  /** Checks start every interval counted from the previous start (a slow check does not stretch the period). */
  private schedule(server: UpstreamServer, startedAt: number): void {
    if (this.stopped) return;
    const st = this.state.get(server)!;
    const delay = nextCheckDelay(st.machine, this.cfg.health, this.random) - (this.clock.now() - startedAt);
    st.timer = setTimeout(() => void this.check(server), Math.max(0, delay));
    st.timer.unref();
  }

  private async check(server: UpstreamServer): Promise<void> {
    const startedAt = this.clock.now();
    const result = await this.prober.probe(server.url.origin, () => this.clock.now());
    if (this.stopped || !this.state.has(server)) return;
    this.apply(server, result);
    this.schedule(server, startedAt);
  }

  /** Feed one probe result (exposed for tests that drive results directly). */
  apply(server: UpstreamServer, result: ProbeResult): Transition | undefined {
    const st = this.state.get(server)!;
    const now0 = this.clock.now();
    st.components = result.answered ? result.components : undefined;
    st.componentsAt = now0;
    st.componentFailingSince = componentFailure(st.components) ? (st.componentFailingSince ?? now0) : undefined;
    const outcome = this.outcome(server, result);
    server.recordCheck(outcome.pass);
    const wasChanging = st.machine.changing;
    const t = st.machine.record(outcome);
    const now = this.clock.now();
    if (!wasChanging && st.machine.changing) st.streakStartedAt = now;
    if (t) {
      const tookMs = wasChanging ? now - st.streakStartedAt : 0;
      server.setHealth(t.to, now);
      this.events.transition(server, t, tookMs, result);
    }
    this.updateCluster();
    return t;
  }

  private outcome(server: UpstreamServer, r: ProbeResult): CheckOutcome {
    const slowMs = this.cfg.health.slow_threshold;
    const slow = slowMs !== undefined && r.latencyMs > slowMs;
    if (!r.answered) return { pass: false, slow: false, reason: r.reason };
    const failing = componentFailure(r.components);
    if (failing && this.peerReportsHealthy(server, failing)) return { pass: false, slow, reason: `${failing} unhealthy on this node only` };
    return { pass: true, slow, reason: slow ? `latency ${Math.round(r.latencyMs)}ms above ${slowMs}ms` : 'checks pass' };
  }

  /**
   * Whether a peer, checked since this node started reporting `component` unhealthy, still finds
   * it healthy — then the failure is this node's own. Older peer results do not count: when a
   * shared component fails, the first node to notice must not be taken out before its peers
   * had a chance to notice too.
   */
  private peerReportsHealthy(server: UpstreamServer, component: keyof AirflowComponents): boolean {
    const since = this.state.get(server)!.componentFailingSince ?? 0;
    for (const [s, st] of this.state) {
      if (s !== server && st.components?.[component] && st.componentsAt >= since) return true;
    }
    return false;
  }

  private updateCluster(): void {
    let answering = 0;
    let metadb = 0;
    let scheduler = 0;
    for (const st of this.state.values()) {
      if (!st.components) continue;
      answering++;
      if (!st.components.metadatabase) metadb++;
      if (!st.components.scheduler) scheduler++;
    }
    const reason =
      answering >= 2 || (answering === 1 && this.servers.length === 1) ? (metadb === answering ? 'metadatabase unhealthy on every server' : scheduler === answering ? 'scheduler unhealthy on every server' : undefined) : this.clusterDegraded;
    if (reason !== this.clusterDegraded) {
      this.clusterDegraded = reason;
      this.events.cluster(this.backend, reason);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const st of this.state.values()) clearTimeout(st.timer);
    await this.prober.close();
  }
}

function componentFailure(c: AirflowComponents | undefined): 'metadatabase' | 'scheduler' | undefined {
  if (!c) return undefined;
  if (!c.metadatabase) return 'metadatabase';
  if (!c.scheduler) return 'scheduler';
  return undefined;
}
