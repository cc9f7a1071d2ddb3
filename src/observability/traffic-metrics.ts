import { STATUS_CODES } from 'node:http';
import { readFileSync } from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RequestRecord } from './request-record.js';
import type { ListenerTraffic } from './listener-traffic.js';
import { LabeledHistogram, type HistogramCounts } from './histogram.js';

/** Status codes exported as themselves; anything else (a non-standard code) as its class, `5xx`: the label stays bounded. */
const KNOWN_CODES = new Set(Object.keys(STATUS_CODES).map(Number));

/** Gateway answers that refuse a request, by termination state: the reason label. */
const REJECTIONS = new Set(['rate-limited', 'login-locked', 'forbidden', 'unauthenticated', 'bad-request', 'no-route']);

const PHASE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

/** One backend's counts (the gateway's own answers count under backend ""). */
export interface BackendTraffic {
  readonly name: string;
  /** Answers by status code; a non-standard code counts under its class digit (5 → `5xx`). */
  readonly codes: Map<number, number>;
  /** queue, connect, response: created with the first proxied request, so a backend that proxied nothing exports no phase series. */
  phases: readonly [HistogramCounts, HistogramCounts, HistogramCounts] | null;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The metrics an HAProxy user looks for beside the per-class request counts: the exact status
 * code per backend, rejections by reason and by the rule or limit that made them, the phase
 * timings of proxied requests (queue, connect, response headers), per-listener connections and
 * bytes, and `airgate_build_info`. The request path adds to plain maps; prom-client sees them at
 * scrape time.
 */
export class TrafficMetrics {
  private readonly backends = new Map<string, BackendTraffic>();
  private readonly rejections = new Map<string, number>();
  private readonly phases: LabeledHistogram;

  constructor(r: Registry, listeners: ListenerTraffic) {
    const backends = this.backends;
    const rejections = this.rejections;
    new Counter({
      name: 'airgate_responses_total',
      help: 'Responses by backend (empty: answered by the gateway before routing) and exact status code (non-standard codes by class, e.g. 5xx)',
      labelNames: ['backend', 'code'],
      registers: [r],
      collect() {
        this.reset();
        for (const [backend, t] of backends) for (const [code, n] of t.codes) this.inc({ backend, code: code < 100 ? `${code}xx` : String(code) }, n);
      },
    });
    new Counter({
      name: 'airgate_rejections_total',
      help: 'Requests the gateway refused, by reason (rate-limited, login-locked, forbidden, unauthenticated, bad-request, no-route) and name (the rate limit or policy rule; "login" for lockouts)',
      labelNames: ['reason', 'name'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, n] of rejections) {
          const [reason, name] = k.split('\u0000') as [string, string];
          this.inc({ reason, name }, n);
        }
      },
    });
    this.phases = new LabeledHistogram({
      name: 'airgate_request_phase_seconds',
      help: 'Proxied requests: time waiting in the backend queue (queue; 0 when not queued), getting a connection to the server (connect), and from arrival until the response headers (response), as queue_ms, connect_ms and headers_ms of the access log',
      buckets: PHASE_BUCKETS,
      registry: r,
    });
    new Gauge({
      name: 'airgate_build_info',
      help: 'airgate version and Node.js version (always 1)',
      labelNames: ['version', 'node'],
      aggregator: 'max',
      registers: [r],
    }).set({ version: version(), node: process.version }, 1);
    new Counter({
      name: 'airgate_listener_connections_total',
      help: 'Client connections accepted, by listener',
      labelNames: ['listener'],
      registers: [r],
      collect() {
        this.reset();
        for (const [name, t] of listeners.all()) this.inc({ listener: name }, t.accepted);
      },
    });
    new Gauge({
      name: 'airgate_listener_connections',
      help: 'Client connections open now, by listener',
      labelNames: ['listener'],
      registers: [r],
      collect() {
        this.reset();
        for (const [name, t] of listeners.all()) this.set({ listener: name }, t.open.size);
      },
    });
    const bytes = (name: string, help: string, pick: 'bytesRead' | 'bytesWritten') =>
      new Counter({
        name,
        help,
        labelNames: ['listener'],
        registers: [r],
        collect() {
          this.reset();
          for (const [listener, t] of listeners.all()) this.inc({ listener }, listeners.bytes(t, pick));
        },
      });
    bytes('airgate_listener_bytes_received_total', 'Bytes received from clients on the wire (headers, bodies, TLS), by listener', 'bytesRead');
    bytes('airgate_listener_bytes_sent_total', 'Bytes sent to clients on the wire (headers, bodies, TLS), by listener', 'bytesWritten');
  }

  /** A backend's counts, looked up once per (route, backend, server) by the caller and kept. */
  backend(name: string): BackendTraffic {
    let t = this.backends.get(name);
    if (!t) this.backends.set(name, (t = { name, codes: new Map(), phases: null }));
    return t;
  }

  private phase(backend: string, phase: string): HistogramCounts {
    return this.phases.child({ backend, phase });
  }

  /** Request path: one map update by status code and, for proxied requests, up to three histogram observations. */
  record(r: RequestRecord, t: BackendTraffic): void {
    const code = KNOWN_CODES.has(r.status) ? r.status : Math.floor(r.status / 100);
    t.codes.set(code, (t.codes.get(code) ?? 0) + 1);
    if (r.termination !== 'ok' && REJECTIONS.has(r.termination)) {
      const name = r.termination === 'login-locked' ? 'login' : r.termination === 'rate-limited' || r.termination === 'forbidden' ? (r.rule ?? '') : '';
      const rk = `${r.termination}\u0000${name}`;
      this.rejections.set(rk, (this.rejections.get(rk) ?? 0) + 1);
    }
    if (!r.server) return;
    const c = (t.phases ??= [this.phase(t.name, 'queue'), this.phase(t.name, 'connect'), this.phase(t.name, 'response')]);
    c[0].observe(r.queueMs > 0 ? r.queueMs / 1000 : 0); // not queued: no wait
    // connect_ms counts from arrival; the connect phase is from dispatching the answering attempt.
    if (r.connectMs >= 0) c[1].observe(Math.max(0, r.connectMs - r.dispatchMs) / 1000);
    if (r.headersMs >= 0) c[2].observe(r.headersMs / 1000);
  }
}
