import type { AirgateConfig } from '../config/schema.js';
import type { RequestRecord } from './request-record.js';
import { LineBatcher, openDestination, type Destination } from './destination.js';
import type { Random } from '../core/clock.js';

type Field = AirgateConfig['access_log']['fields'][number];

const round = (ms: number) => (ms < 0 ? -1 : Math.round(ms * 10) / 10);

let lastMs = 0;
let lastIso = '';
/** Requests finishing in the same millisecond share one ISO string. */
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Fields whose values come from the client and must be escaped; the others are validated names, ids and numbers. */
const FREE_TEXT = new Set<Field>(['path', 'client', 'route', 'user', 'auth', 'policy', 'rule']);

const GETTERS: Record<Field, (r: RequestRecord) => unknown> = {
  time: (r) => isoTime(r.time),
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
  private readonly destination: Destination;
  private readonly batch: LineBatcher;
  private readonly ownDestination: boolean;
  /** Only files can be reopened (stdout and stderr stay as they are). */
  private readonly isFile: boolean;
  private readonly getters: [string, (r: RequestRecord) => unknown, boolean][];
  private readonly sample: number;
  private readonly random: Random;
  private readonly redact: RegExp | undefined;

  constructor(cfg: AirgateConfig['access_log'], random: Random, destination?: Destination) {
    this.destination = destination ?? openDestination(cfg.destination);
    this.ownDestination = destination === undefined;
    this.isFile = this.ownDestination && cfg.destination.startsWith('/');
    this.batch = new LineBatcher(this.destination);
    this.getters = cfg.fields.map((f) => [`,"${f}":`, f === 'path' ? (r: RequestRecord) => this.redactPath(r.path) : GETTERS[f], FREE_TEXT.has(f)]);
    this.sample = cfg.sample;
    this.random = random;
    this.redact = cfg.redact_query.length ? new RegExp(`([?&](?:${cfg.redact_query.map(escapeRegExp).join('|')})=)[^&#]*`, 'gi') : undefined;
  }

  write(r: RequestRecord): void {
    if (this.sample < 1 && r.status < 400 && this.random() >= this.sample) return;
    // Built by hand: this runs once per request, and generic serialization costs several times more.
    let line = '{"level":30,"type":"access"';
    for (let i = 0; i < this.getters.length; i++) {
      const [key, get, free] = this.getters[i]!;
      const v = get(r);
      if (v === undefined) continue;
      line += typeof v === 'number' ? key + v : free ? key + JSON.stringify(v) : `${key}"${v as string}"`;
    }
    this.batch.push(`${line}}\n`);
  }

  private redactPath(path: string): string {
    return this.redact && path.includes('?') ? path.replace(this.redact, '$1[redacted]') : path;
  }

  /** logrotate: reopen the file. */
  reopen(): void {
    if (this.isFile) this.destination.reopen();
  }

  close(): void {
    this.batch.close();
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
