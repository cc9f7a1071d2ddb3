import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestRecord } from './request-record.js';
import type { Runtime } from '../server/runtime.js';
import { TrafficMetrics, type BackendTraffic } from './traffic-metrics.js';
import { ListenerTraffic } from './listener-traffic.js';
import { ServerAnswers, type AnswerCounts } from './server-answers.js';
import { LabeledHistogram, type HistogramCounts } from './histogram.js';
import { registerServerMetrics } from './server-metrics.js';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * What requests of one (route, backend, server) add to, found with three lookups of strings the
 * request already holds: no key is built and no label set hashed on the request path.
 */
interface Slot {
  /** Answers by status class, 1xx … 5xx. */
  readonly classes: number[];
  readonly traffic: BackendTraffic;
  /** Proxied requests only (a server answered or was tried). */
  readonly duration: HistogramCounts | undefined;
  readonly answered: AnswerCounts | undefined;
}

/** Live numbers the gateway keeps itself; exported at scrape time, never touched by prom-client on the request path. */
export interface GatewayCounters {
  reloads: { ok: number; failed: number };
  certificates: () => { listener: string; name: string; notAfter: Date }[];
  /** ACME orders and renewals per listener certificate. */
  acme?: () => { listener: string; name: string; ok: number; failed: number }[];
  /** Backends where secret-key drift is suspected now. */
  drift: () => ReadonlySet<string>;
}

/**
 * Prometheus metrics, named in the spirit of HAProxy's exporter. Request counts per route,
 * backend, server and status class are plain numbers bumped on the request path and turned into
 * counters at scrape; durations go to pre-bound histogram children. Server states, queues,
 * ejections, cluster health, reloads and certificate expiry are read from the runtime at scrape.
 */
export class Metrics {
  readonly registry = new Registry();
  /** route → backend → server. */
  private readonly slots = new Map<string, Map<string, Map<string, Slot>>>();
  private readonly duration: LabeledHistogram;
  private retries = new Map<string, number>();
  private redispatches = new Map<string, number>();
  private terminations = new Map<string, number>();
  private readonly answered = new ServerAnswers();
  readonly listeners = new ListenerTraffic();
  private readonly traffic: TrafficMetrics;

  constructor(runtime: () => Runtime, counters: GatewayCounters) {
    const r = this.registry;
    this.traffic = new TrafficMetrics(r, this.listeners);
    collectDefaultMetrics({ register: r, prefix: 'airgate_process_' });
    this.duration = new LabeledHistogram({
      name: 'airgate_request_duration_seconds',
      help: 'Time from request arrival to the last response byte',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registry: r,
    });
    const slots = this.slots;
    new Counter({
      name: 'airgate_requests_total',
      help: 'Requests answered, by route, backend, server and status class',
      labelNames: ['route', 'backend', 'server', 'code'],
      registers: [r],
      collect() {
        this.reset();
        for (const [route, backends] of slots) for (const [backend, servers] of backends) for (const [server, slot] of servers) slot.classes.forEach((n, i) => n > 0 && this.inc({ route, backend, server, code: CLASSES[i]! }, n));
      },
    });
    const mapCounter = (name: string, help: string, label: string, source: () => Map<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [k, n] of source()) this.inc({ [label]: k }, n);
        },
      });
    mapCounter('airgate_backend_retries_total', 'Retries to another server', 'backend', () => this.retries);
    mapCounter('airgate_backend_redispatches_total', 'Sticky requests sent to another server because theirs was out of rotation', 'backend', () => this.redispatches);
    mapCounter('airgate_request_terminations_total', 'Requests by termination state (ok, client-abort, upstream-timeout …)', 'termination', () => this.terminations);
    registerServerMetrics(r, runtime);
    new Gauge({
      name: 'airgate_backend_queue_length',
      help: 'Requests waiting for a free server',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of runtime().backends.values()) this.set({ backend: b.name }, b.queue.length);
      },
    });
    new Gauge({
      name: 'airgate_backend_cluster_degraded',
      aggregator: 'max',
      help: '1 when the metadatabase or scheduler is unhealthy on every server of the backend',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        const rt = runtime();
        for (const b of rt.backends.values()) this.set({ backend: b.name }, rt.clusterDegraded(b.name) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'airgate_backend_secret_key_drift',
      aggregator: 'max',
      help: '1 when Airflow nodes of the backend look like they use different secret_key values',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        const drift = counters.drift();
        for (const b of runtime().backends.values()) this.set({ backend: b.name }, drift.has(b.name) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'airgate_ratelimit_store_degraded',
      aggregator: 'max',
      help: '1 while the shared (Redis) rate-limit store is unreachable and limits are per instance',
      registers: [r],
      collect() {
        this.set(runtime().limits.shared?.degraded ? 1 : 0);
      },
    });
    const eachDiscovery = (fn: (backend: string, d: NonNullable<import('../upstream/backend.js').Backend['discovery']>) => void) => {
      for (const b of runtime().backends.values()) if (b.discovery) fn(b.name, b.discovery);
    };
    // Lookups happen once per machine (the primary of `workers: N`): every worker reports the same numbers, hence `max`.
    new Counter({
      name: 'airgate_discovery_lookups_total',
      aggregator: 'max',
      help: 'DNS discovery lookups, by backend',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        eachDiscovery((backend, d) => this.inc({ backend }, d.lookups));
      },
    });
    new Counter({
      name: 'airgate_discovery_failures_total',
      aggregator: 'max',
      help: 'DNS discovery lookups that kept the last known servers, by backend and reason (error: the resolver failed; empty: the answer held no address)',
      labelNames: ['backend', 'reason'],
      registers: [r],
      collect() {
        this.reset();
        eachDiscovery((backend, d) => {
          this.inc({ backend, reason: 'error' }, d.failures);
          this.inc({ backend, reason: 'empty' }, d.empty);
        });
      },
    });
    new Gauge({
      name: 'airgate_discovery_servers',
      aggregator: 'max',
      help: 'Servers discovery placed in the backend, by state (active: found by the last usable answer; retiring: withdrawn, draining)',
      labelNames: ['backend', 'state'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of runtime().backends.values()) {
          if (!b.discovery) continue;
          let active = 0;
          let retiring = 0;
          for (const name of b.discovered.keys())
            if (b.server(name)?.retiring) retiring++;
            else active++;
          this.set({ backend: b.name, state: 'active' }, active);
          this.set({ backend: b.name, state: 'retiring' }, retiring);
        }
      },
    });
    new Counter({
      name: 'airgate_config_reloads_total',
      aggregator: 'max',
      help: 'Configuration reloads by result',
      labelNames: ['result'],
      registers: [r],
      collect() {
        this.reset();
        this.inc({ result: 'success' }, counters.reloads.ok);
        this.inc({ result: 'failure' }, counters.reloads.failed);
      },
    });
    new Gauge({
      name: 'airgate_certificate_expiry_seconds',
      aggregator: 'min',
      help: 'Seconds until a served certificate (file or ACME) expires; name is its first DNS name',
      labelNames: ['listener', 'name'],
      registers: [r],
      collect() {
        this.reset();
        for (const c of counters.certificates()) this.set({ listener: c.listener, name: c.name }, Math.round((c.notAfter.getTime() - Date.now()) / 1000));
      },
    });
    new Counter({
      name: 'airgate_certificate_renewals_total',
      help: 'ACME orders and renewals by result; a failure keeps the current certificate in service',
      labelNames: ['listener', 'name', 'result'],
      registers: [r],
      collect() {
        this.reset();
        for (const a of counters.acme?.() ?? []) {
          this.inc({ listener: a.listener, name: a.name, result: 'ok' }, a.ok);
          this.inc({ listener: a.listener, name: a.name, result: 'failed' }, a.failed);
        }
      },
    });
  }

  /** Request path: three map lookups, a few additions and up to four histogram observations. */
  record(r: RequestRecord): void {
    const slot = this.slot(r.route, r.backend, r.server);
    slot.classes[Math.min(4, Math.max(0, Math.floor(r.status / 100) - 1))]!++;
    if (r.retries > 0 && r.backend) this.retries.set(r.backend, (this.retries.get(r.backend) ?? 0) + r.retries);
    this.terminations.set(r.termination, (this.terminations.get(r.termination) ?? 0) + 1);
    this.traffic.record(r, slot.traffic);
    if (slot.answered) this.answered.record(r, slot.answered);
    slot.duration?.observe(r.totalMs / 1000);
  }

  private slot(route: string, backend: string, server: string): Slot {
    let backends = this.slots.get(route);
    if (!backends) this.slots.set(route, (backends = new Map<string, Map<string, Slot>>()));
    let servers = backends.get(backend);
    if (!servers) backends.set(backend, (servers = new Map<string, Slot>()));
    let slot = servers.get(server);
    if (!slot) {
      const proxied = backend !== '' && server !== '';
      slot = {
        classes: [0, 0, 0, 0, 0],
        traffic: this.traffic.backend(backend),
        duration: backend !== '' ? this.duration.child({ backend, server }) : undefined,
        answered: proxied ? this.answered.counter(backend, server) : undefined,
      };
      servers.set(server, slot);
    }
    return slot;
  }

  /** Requests `server` of `backend` answered to clients, and the 5xx among them. */
  answeredBy(backend: string, server: string): { served: number; failed: number } {
    return this.answered.of(backend, server);
  }

  redispatched(backend: string): void {
    this.redispatches.set(backend, (this.redispatches.get(backend) ?? 0) + 1);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
