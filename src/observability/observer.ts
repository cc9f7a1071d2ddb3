import type { AirgateConfig } from '../config/schema.js';
import { systemRandom } from '../core/clock.js';
import type { Logger } from './logger.js';
import { AccessLog } from './access-log.js';
import { AuditLog } from './audit.js';
import { EventLog } from './events.js';
import { Metrics, type GatewayCounters } from './metrics.js';
import type { RequestRecord } from './request-record.js';
import { SecretKeyDrift } from './secret-key-drift.js';
import type { Runtime } from '../server/runtime.js';
import type { Destination } from './destination.js';
import type { OperatorAction } from './audit.js';

export interface ObserverOptions {
  /** Replace the configured destinations (tests capture the lines). */
  accessDestination?: Destination;
  auditDestination?: Destination;
  /** Wall-clock milliseconds for the secret-key drift detector (tests move time). */
  now?: () => number;
}

/**
 * Where a finished request goes: metrics (always), the access log and the audit log (when
 * enabled); plus the recent-events list and the secret-key drift detector.
 */
export class Observer {
  readonly metrics: Metrics;
  readonly events = new EventLog();
  readonly drift: SecretKeyDrift;
  private accessLog: AccessLog | undefined;
  private auditLog: AuditLog | undefined;
  private readonly options: ObserverOptions;
  private logSettings = '';

  /** The certificates every TLS listener serves (status page, metrics). */
  readonly certificates: GatewayCounters['certificates'];

  constructor(config: AirgateConfig, logger: Logger, runtime: () => Runtime, counters: Omit<GatewayCounters, 'drift'>, options: ObserverOptions = {}) {
    this.options = options;
    this.certificates = counters.certificates;
    this.drift = new SecretKeyDrift(
      logger,
      (s) => this.events.push('drift', `secret_key drift suspected in ${s.backend}: ${s.sign}`, { nodes: s.nodes }),
      (backend) => this.events.push('drift', `secret_key drift in ${backend} cleared: the nodes agree again`),
      options.now,
    );
    this.metrics = new Metrics(runtime, { ...counters, drift: () => this.drift.active() });
    this.configure(config);
  }

  /** Apply (re)loaded log settings. */
  configure(config: AirgateConfig): void {
    const settings = JSON.stringify([config.access_log, config.audit_log]);
    if (settings === this.logSettings) return;
    this.logSettings = settings;
    this.accessLog?.close();
    this.auditLog?.close();
    this.accessLog = config.access_log.enabled ? new AccessLog(config.access_log, systemRandom, this.options.accessDestination) : undefined;
    this.auditLog = config.audit_log.enabled ? new AuditLog(config.audit_log, this.options.auditDestination) : undefined;
  }

  close(): void {
    this.accessLog?.close();
    this.auditLog?.close();
  }

  finished(r: RequestRecord, now: number): void {
    r.totalMs = now - r.start;
    this.metrics.record(r);
    this.accessLog?.write(r);
    if (r.audit) this.auditLog?.write(r, r.audit);
  }

  /** Count a listener's connections and bytes (called for every listener the gateway creates). */
  watchListener(name: string, server: import('node:events').EventEmitter): void {
    this.metrics.listeners.watch(name, server);
  }

  /** An operator action (drain, ready, maint, weight, reload): an audit line saying who did it. */
  operatorAction(entry: OperatorAction): void {
    this.auditLog?.operator(entry);
  }

  /** logrotate (SIGUSR1 / SIGHUP). */
  reopen(): void {
    this.accessLog?.reopen();
    this.auditLog?.reopen();
  }
}
