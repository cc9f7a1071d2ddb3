import { Counter, Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../server/runtime.js';
import type { UpstreamServer } from '../upstream/server.js';

const STATES = ['up', 'degraded', 'down', 'ejected', 'drain', 'maint', 'retiring'] as const;

/** Per-server metrics, read from the runtime at scrape time: state, availability, load, weight, ejections, checks. */
export function registerServerMetrics(r: Registry, runtime: () => Runtime): void {
  const eachServer = (fn: (s: UpstreamServer, backend: string, now: number) => void) => {
    for (const b of runtime().backends.values()) {
      const now = b.clock.now();
      for (const s of b.servers) fn(s, b.name, now);
    }
  };
  new Gauge({
    name: 'airgate_server_state',
    aggregator: 'max',
    help: 'Server state: 1 for the current one of up, degraded, down, ejected, drain, maint, retiring (discovery withdrew it)',
    labelNames: ['backend', 'server', 'state'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend, now) => {
        const st = s.status(now);
        for (const state of STATES) this.set({ backend, server: s.name, state }, st === state ? 1 : 0);
      });
    },
  });
  new Gauge({
    name: 'airgate_server_up',
    aggregator: 'max',
    help: '1 when the server takes new requests',
    labelNames: ['backend', 'server'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend, now) => this.set({ backend, server: s.name }, s.available(now) ? 1 : 0));
    },
  });
  new Gauge({
    name: 'airgate_server_inflight',
    help: 'Requests in flight to the server',
    labelNames: ['backend', 'server'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend) => this.set({ backend, server: s.name }, s.inflight));
    },
  });
  new Gauge({
    name: 'airgate_server_weight',
    aggregator: 'max',
    help: 'Configured or operator-set weight',
    labelNames: ['backend', 'server'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend) => this.set({ backend, server: s.name }, s.weight));
    },
  });
  new Counter({
    name: 'airgate_server_ejections_total',
    help: 'Outlier ejections (passive health)',
    labelNames: ['backend', 'server'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend) => this.inc({ backend, server: s.name }, s.totalEjections));
    },
  });
  new Counter({
    name: 'airgate_server_checks_total',
    aggregator: 'max',
    help: 'Active health checks by result',
    labelNames: ['backend', 'server', 'result'],
    registers: [r],
    collect() {
      this.reset();
      eachServer((s, backend) => {
        this.inc({ backend, server: s.name, result: 'pass' }, s.checks.pass);
        this.inc({ backend, server: s.name, result: 'fail' }, s.checks.fail);
      });
    },
  });
}
