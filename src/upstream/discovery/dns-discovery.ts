import type { DiscoveryConfig } from '../../config/discovery-schema.js';
import type { ServerConfig } from '../../config/schema.js';
import { createDnsClient, lookup, nextDelay, type Answer, type DnsClient } from './dns.js';
import { wantedServers } from './reconcile.js';

/** What status pages and metrics show about one backend's discovery. */
export interface DiscoveryStats {
  dns: string;
  type: string;
  lookups: number;
  failures: number;
  /** Answers that held no address (kept the last known servers, like a failure). */
  empty: number;
  /** Servers the last usable answer asked for. */
  servers: number;
  lastError: string | null;
  /** Wall-clock time (ISO) of the last lookup and of the last usable answer. */
  lastLookup: string | null;
  lastAnswer: string | null;
}

/** Timers, injectable so tests can step the lookup loop themselves. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DiscoveryLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * The lookup loop of one backend: resolve, turn the answer into wanted servers, hand them on
 * (`onServers`) when they changed, and ask again after the TTL (within bounds). A failed lookup
 * or an empty answer is logged and counted and leaves `known` as it was.
 */
export class DnsDiscovery {
  readonly backend: string;
  readonly cfg: DiscoveryConfig;
  readonly stats: DiscoveryStats;
  /** The servers of the last usable answer. */
  known: ServerConfig[] = [];
  private readonly client: DnsClient;
  private readonly timers: Timers;
  private readonly onServers: (servers: ServerConfig[]) => void;
  private readonly log: DiscoveryLog;
  private timer: unknown;
  private stopped = false;
  private failuresInARow = 0;

  constructor(backend: string, cfg: DiscoveryConfig, onServers: (servers: ServerConfig[]) => void, log: DiscoveryLog, deps: { client?: DnsClient; timers?: Timers } = {}) {
    this.backend = backend;
    this.cfg = cfg;
    this.onServers = onServers;
    this.log = log;
    this.client = deps.client ?? createDnsClient(cfg);
    this.timers = deps.timers ?? realTimers;
    this.stats = { dns: cfg.dns, type: cfg.type, lookups: 0, failures: 0, empty: 0, servers: 0, lastError: null, lastLookup: null, lastAnswer: null };
  }

  /** One lookup; resolves to the delay before the next one. Never rejects. */
  async refresh(): Promise<number> {
    this.stats.lookups++;
    this.stats.lastLookup = new Date().toISOString();
    let answer: Answer | undefined;
    try {
      answer = await lookup(this.client, this.cfg);
    } catch (err) {
      this.failuresInARow++;
      this.stats.failures++;
      this.stats.lastError = `${(err as NodeJS.ErrnoException).code ?? 'ERROR'}: ${(err as Error).message}`;
      this.log.warn({ backend: this.backend, dns: this.cfg.dns, error: this.stats.lastError, failuresInARow: this.failuresInARow, keeping: this.known.length }, 'DNS lookup failed; keeping the last known servers');
      return nextDelay(this.cfg, undefined, this.failuresInARow);
    }
    if (this.stopped) return 0;
    if (this.failuresInARow > 0) this.log.info({ backend: this.backend, dns: this.cfg.dns, after: this.failuresInARow }, 'DNS lookups answer again');
    this.failuresInARow = 0;
    const wanted = wantedServers(answer.targets, this.cfg);
    if (wanted.length === 0) {
      this.stats.empty++;
      this.stats.lastError = 'empty answer';
      this.log.warn({ backend: this.backend, dns: this.cfg.dns, keeping: this.known.length }, 'DNS answer holds no address; keeping the last known servers');
      return nextDelay(this.cfg, answer, 0);
    }
    this.stats.lastError = null;
    this.stats.lastAnswer = new Date().toISOString();
    this.stats.servers = wanted.length;
    const changed = JSON.stringify(wanted) !== JSON.stringify(this.known);
    this.known = wanted;
    if (changed) this.onServers(wanted);
    return nextDelay(this.cfg, answer, 0);
  }

  /** Keep looking up, the first time after `firstDelayMs`. */
  start(firstDelayMs: number): void {
    const loop = (delay: number) => {
      if (this.stopped) return;
      this.timer = this.timers.set(() => void this.refresh().then(loop), delay);
    };
    loop(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    this.timers.clear(this.timer);
  }
}
