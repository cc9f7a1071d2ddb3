import type { IncomingMessage } from 'node:http';
import type { AirgateConfig } from '../config/schema.js';
import { rawHeader } from '../proxy/request-keys.js';
import { globToRegExp } from './glob.js';
import { segmentPrefixTest } from '../core/prefix.js';
import { GcraStore } from './rate-limiter.js';
import type { SharedCounter } from './shared-counter.js';

type LimitConfig = AirgateConfig['rate_limits'][number];

export interface LimitSubject {
  req: IncomingMessage;
  route: string;
  /** Canonical host (lower case, no port, no trailing dot). */
  host: string;
  path: string;
  method: string;
  client: string;
  user: string | undefined;
  session: string | undefined;
}

export interface LimitVerdict {
  name: string;
  limit: number;
  remaining: number;
  resetSeconds: number;
  retryAfterSeconds: number;
}

/** Worker heartbeats (Airflow 3 Task Execution API) are never rate limited. */
const HEARTBEAT = /^\/execution\/.*\/heartbeat\/?$/;

interface Compiled {
  cfg: LimitConfig;
  test: (s: LimitSubject) => boolean;
  key: (s: LimitSubject) => string | undefined;
  emissionMs: number;
  store: GcraStore;
}

function compile(cfg: LimitConfig, storeSize: number): Compiled {
  const tests: ((s: LimitSubject) => boolean)[] = [];
  const m = cfg.match;
  if (m.paths) {
    const ps = m.paths.map((p) =>
      p.includes('*') || p.includes('?')
        ? (
            (re: RegExp) => (path: string) =>
              re.test(path)
          )(globToRegExp(p, 'i'))
        : segmentPrefixTest(p),
    );
    tests.push((s) => ps.some((t) => t(s.path)));
  }
  if (m.methods) {
    const set = new Set(m.methods);
    tests.push((s) => set.has(s.method));
  }
  if (m.hosts) {
    const res = m.hosts.map((h) => globToRegExp(h, 'i'));
    tests.push((s) => res.some((re) => re.test(s.host)));
  }
  if (m.routes) {
    const set = new Set(m.routes);
    tests.push((s) => set.has(s.route));
  }
  const parts = cfg.key.map((k): ((s: LimitSubject) => string | undefined) => {
    if (k === 'client_ip') return (s) => s.client;
    if (k === 'user') return (s) => s.user;
    if (k === 'session') return (s) => s.session;
    const name = k.slice(7).toLowerCase();
    return (s) => rawHeader(s.req, name);
  });
  return {
    cfg,
    test: (s) => tests.every((t) => t(s)),
    // A request without one of the key's parts (no user yet, say) is counted under "-".
    key: (s) => parts.map((p) => p(s) ?? '-').join('\u0000'),
    emissionMs: cfg.rate.perMs / cfg.rate.count,
    store: new GcraStore(storeSize),
  };
}

/**
 * Named rate limits (GCRA per key), checked before a request takes an upstream slot. Several
 * may apply to one request; the first one exceeded answers 429.
 */
export class RateLimits {
  private readonly limits: Compiled[];
  /** Counters shared through Redis (`store: { type: redis }`), or undefined for this instance's own. */
  readonly shared: SharedCounter | undefined;

  constructor(cfg: AirgateConfig['rate_limits'], storeSize: number, shared?: SharedCounter) {
    this.shared = shared;
    this.limits = cfg.map((c) => compile(c, storeSize));
  }

  /** A reload: limits that kept their name, rate and burst keep their local counters. */
  carryOver(previous: RateLimits): void {
    this.limits.forEach((l, i) => {
      const old = previous.limits.find((p) => p.cfg.name === l.cfg.name && p.cfg.rate.text === l.cfg.rate.text && p.cfg.burst === l.cfg.burst);
      if (old) this.limits[i] = { ...l, store: old.store };
    });
  }

  get empty(): boolean {
    return this.limits.length === 0;
  }

  /**
   * The one check, whatever keeps the counters: this instance's stores answer at once, shared
   * counters (the primary of `workers: N`, or Redis) with a promise. Several limits may apply;
   * the first one exceeded gives the verdict.
   */
  check(s: LimitSubject, now: number): LimitVerdict | undefined | Promise<LimitVerdict | undefined> {
    if (s.method === 'PUT' && HEARTBEAT.test(s.path)) return undefined;
    return this.from(0, s, now);
  }

  private from(start: number, s: LimitSubject, now: number): LimitVerdict | undefined | Promise<LimitVerdict | undefined> {
    for (let i = start; i < this.limits.length; i++) {
      const l = this.limits[i]!;
      if (!l.test(s)) continue;
      const key = l.key(s);
      if (key === undefined) continue;
      const r = this.shared ? this.shared.take(`${l.cfg.name}:${key}`, now, l.emissionMs, l.cfg.burst) : l.store.take(key, now, l.emissionMs, l.cfg.burst);
      if (r instanceof Promise) return r.then((taken) => (taken.allowed ? this.from(i + 1, s, now) : verdict(l, taken)));
      if (!r.allowed) return verdict(l, r);
    }
    return undefined;
  }

  /** Keys held, for tests and status. */
  sizes(): Record<string, number> {
    return Object.fromEntries(this.limits.map((l) => [l.cfg.name, l.store.size]));
  }
}

function verdict(l: Compiled, r: { remaining: number; retryAfterMs: number; resetMs: number }): LimitVerdict {
  return { name: l.cfg.name, limit: l.cfg.burst, remaining: 0, resetSeconds: Math.ceil(r.resetMs / 1000), retryAfterSeconds: Math.max(1, Math.ceil(r.retryAfterMs / 1000)) };
}
