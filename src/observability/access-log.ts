import { pino, type Logger } from 'pino';
import type { AirgateConfig } from '../config/schema.js';
import type { RequestRecord } from './request-record.js';
import { openDestination, type Destination } from './destination.js';
import type { Random } from '../core/clock.js';

type Field = AirgateConfig['access_log']['fields'][number];

const round = (ms: number) => (ms < 0 ? -1 : Math.round(ms * 10) / 10);

const GETTERS: Record<Field, (r: RequestRecord) => unknown> = {
  time: (r) => new Date(r.time).toISOString(),
  request_id: (r) => r.id,
  client: (r) => r.client,
  listener: (r) => r.listener,
  method: (r) => r.method,
  path: (r) => r.path,
  status: (r) => r.status,
  bytes_in: (r) => r.bytesIn,
  bytes_out: (r) => r.bytesOut,
  route: (r) => r.route || undefined,
  backend: (r) => r.backend || undefined,
  server: (r) => r.server || undefined,
  retries: (r) => r.retries,
  read_ms: (r) => round(r.readMs),
  queue_ms: (r) => round(r.queueMs),
  connect_ms: (r) => round(r.connectMs),
  headers_ms: (r) => round(r.headersMs),
  total_ms: (r) => round(r.totalMs),
  termination: (r) => r.termination,
  user: (r) => r.user,
  auth: (r) => r.auth,
  policy: (r) => r.policy,
  rule: (r) => r.rule,
};

/**
 * One JSON line per request (pino, asynchronous destination), with HAProxy-style timers and a
 * termination state. Fields are chosen in config; successful requests can be sampled; query
 * parameters that carry secrets are redacted. Headers and cookies are never logged.
 */
export class AccessLog {
  private readonly logger: Logger;
  private readonly destination: Destination;
  private readonly ownDestination: boolean;
  private readonly getters: [Field, (r: RequestRecord) => unknown][];
  private readonly sample: number;
  private readonly random: Random;
  private readonly redact: RegExp | undefined;

  constructor(cfg: AirgateConfig['access_log'], random: Random, destination?: Destination) {
    this.destination = destination ?? openDestination(cfg.destination);
    this.ownDestination = destination === undefined;
    this.logger = pino({ base: null, timestamp: false, messageKey: 'msg' }, this.destination);
    this.getters = cfg.fields.map((f) => [f, GETTERS[f]]);
    this.sample = cfg.sample;
    this.random = random;
    this.redact = cfg.redact_query.length ? new RegExp(`([?&](?:${cfg.redact_query.map(escapeRegExp).join('|')})=)[^&#]*`, 'gi') : undefined;
  }

  write(r: RequestRecord): void {
    if (this.sample < 1 && r.status < 400 && this.random() >= this.sample) return;
    const line: Record<string, unknown> = { type: 'access' };
    for (const [field, get] of this.getters) {
      const v = field === 'path' ? this.redactPath(r.path) : get(r);
      if (v !== undefined) line[field] = v;
    }
    this.logger.info(line);
  }

  private redactPath(path: string): string {
    return this.redact && path.includes('?') ? path.replace(this.redact, '$1[redacted]') : path;
  }

  /** logrotate: reopen the file. */
  reopen(): void {
    if (this.ownDestination) this.destination.reopen();
  }

  close(): void {
    if (!this.ownDestination) return;
    try {
      this.destination.flushSync();
    } catch {
      /* not open yet */
    }
    if ((this.destination as unknown as { fd: number }).fd > 2) this.destination.end();
  }

}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
