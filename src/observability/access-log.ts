import type { AirgateConfig } from '../config/schema.js';
import type { RequestRecord } from './request-record.js';
import { LineBatcher, openDestination, ownsStream, type Destination } from './destination.js';
import type { Random } from '../core/clock.js';

type Field = AirgateConfig['access_log']['fields'][number];

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
  /** Files and syslog are closed with the log; stdout and stderr stay open. */
  private readonly ends: boolean;
  /** The line builder for the configured fields, generated once at load (no per-field calls). */
  private readonly build: (r: RequestRecord, iso: (ms: number) => string, redact: (p: string) => string) => string;
  private readonly sample: number;
  private readonly random: Random;
  private readonly redact: RegExp | undefined;

  constructor(cfg: AirgateConfig['access_log'], random: Random, destination?: Destination) {
    this.destination = destination ?? openDestination(cfg.destination, 'access');
    this.ownDestination = destination === undefined;
    this.ends = this.ownDestination && ownsStream(cfg.destination);
    this.isFile = this.ownDestination && cfg.destination.startsWith('/');
    this.batch = new LineBatcher(this.destination);
    this.build = compileLine(cfg.fields);
    this.sample = cfg.sample;
    this.random = random;
    this.redact = cfg.redact_query.length ? new RegExp(`([?&](?:${cfg.redact_query.map(escapeRegExp).join('|')})=)[^&#]*`, 'gi') : undefined;
  }

  write(r: RequestRecord): void {
    if (this.sample < 1 && r.status < 400 && this.random() >= this.sample) return;
    // Built by hand: this runs once per request, and generic serialization costs several times more.
    this.batch.push(this.build(r, isoTime, this.redactPathFn));
  }

  private readonly redactPathFn = (path: string): string => this.redactPath(path);

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
    if (this.ends) this.destination.end();
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Record fields behind each log field, and how each is written. */
const SOURCES: Record<Field, { expr: string; kind: 'num' | 'ms' | 'safe' | 'free' | 'opt-safe' | 'opt-free' }> = {
  time: { expr: 'iso(r.time)', kind: 'safe' },
  request_id: { expr: 'r.id', kind: 'safe' },
  client: { expr: 'r.client', kind: 'free' },
  listener: { expr: 'r.listener', kind: 'safe' },
  method: { expr: 'r.method', kind: 'safe' },
  path: { expr: 'redact(r.path)', kind: 'free' },
  status: { expr: 'r.status', kind: 'num' },
  bytes_in: { expr: 'r.bytesIn', kind: 'num' },
  bytes_out: { expr: 'r.bytesOut', kind: 'num' },
  route: { expr: 'r.route', kind: 'opt-free' },
  backend: { expr: 'r.backend', kind: 'opt-safe' },
  server: { expr: 'r.server', kind: 'opt-safe' },
  retries: { expr: 'r.retries', kind: 'num' },
  read_ms: { expr: 'r.readMs', kind: 'ms' },
  queue_ms: { expr: 'r.queueMs', kind: 'ms' },
  connect_ms: { expr: 'r.connectMs', kind: 'ms' },
  headers_ms: { expr: 'r.headersMs', kind: 'ms' },
  total_ms: { expr: 'r.totalMs', kind: 'ms' },
  termination: { expr: 'r.termination', kind: 'safe' },
  user: { expr: 'r.user', kind: 'opt-free' },
  auth: { expr: 'r.auth', kind: 'opt-free' },
  policy: { expr: 'r.policy', kind: 'opt-free' },
  rule: { expr: 'r.rule', kind: 'opt-free' },
  host: { expr: 'r.host', kind: 'opt-free' },
  http_version: { expr: 'r.httpVersion', kind: 'safe' },
  user_agent: { expr: 'r.userAgent', kind: 'opt-free' },
  client_port: { expr: 'r.clientPort', kind: 'num' },
  tls_version: { expr: 'r.tlsVersion', kind: 'opt-safe' },
  sni: { expr: 'r.sni', kind: 'opt-free' },
  upstream: { expr: 'r.upstream', kind: 'opt-safe' },
};

/**
 * Generate, once per configuration, the function that writes a record as one JSON line with the
 * chosen fields: straight-line code with no per-field calls. Field names come from the schema's
 * closed list, never from input.
 */
function compileLine(fields: readonly Field[]): (r: RequestRecord, iso: (ms: number) => string, redact: (p: string) => string) => string {
  const parts: string[] = [];
  for (const f of fields) {
    const { expr, kind } = SOURCES[f];
    const key = JSON.stringify(`,"${f}":`);
    if (kind === 'num') parts.push(`s += ${key} + ${expr};`);
    else if (kind === 'ms') parts.push(`{ const v = ${expr}; s += ${key} + (v < 0 ? -1 : Math.round(v * 10) / 10); }`);
    else if (kind === 'safe') parts.push(`s += ${key} + '"' + ${expr} + '"';`);
    else if (kind === 'free') parts.push(`s += ${key} + JSON.stringify(${expr});`);
    else if (kind === 'opt-safe') parts.push(`{ const v = ${expr}; if (v) s += ${key} + '"' + v + '"'; }`);
    else parts.push(`{ const v = ${expr}; if (v !== undefined && v !== '') s += ${key} + JSON.stringify(v); }`);
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('r', 'iso', 'redact', `let s = '{"level":30,"type":"access"';\n${parts.join('\n')}\nreturn s + '}\\n';`) as (r: RequestRecord, iso: (ms: number) => string, redact: (p: string) => string) => string;
}
