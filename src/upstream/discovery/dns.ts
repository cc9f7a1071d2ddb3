import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { DiscoveryConfig, DiscoveryQuery } from '../../config/discovery-schema.js';

/** One address:port an answer named; `priority` from SRV (lower is preferred). */
export interface Target {
  address: string;
  port: number;
  priority: number;
}

/** A successful lookup: the targets (possibly none) and the smallest TTL seen, in ms (undefined: no TTL in the answer). */
export interface Answer {
  targets: Target[];
  ttlMs: number | undefined;
}

/** What a lookup needs from a resolver; Node's `dns.promises.Resolver` has it, tests may pass another. */
export interface DnsClient {
  resolve4(name: string, opts: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(name: string, opts: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolveSrv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
}

/** Node's c-ares resolver with the configured nameservers (ip or ip:port), per-query timeout and tries. */
export function createDnsClient(cfg: Pick<DiscoveryConfig, 'resolvers' | 'timeout' | 'tries'>): DnsClient {
  const r = new dns.Resolver({ timeout: cfg.timeout, tries: cfg.tries });
  if (cfg.resolvers) r.setServers(cfg.resolvers);
  return r;
}

/** "No such name" and "no records of that type" are answers (empty), not resolver failures. */
const EMPTY_CODES = new Set(['ENODATA', 'ENOTFOUND']);

async function addresses(client: DnsClient, name: string, family: 4 | 6): Promise<{ address: string; ttl: number }[]> {
  if (isIP(name)) return [{ address: name, ttl: Infinity }];
  try {
    return family === 4 ? await client.resolve4(name, { ttl: true }) : await client.resolve6(name, { ttl: true });
  } catch (err) {
    if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

/**
 * Resolve the configured name once. A/AAAA: every address with the configured port. SRV: every
 * target's IPv4 addresses (IPv6 when it has none) with the port the SRV record gives. A resolver
 * error (timeout, refused, SERVFAIL) rejects; an empty answer resolves with no targets.
 */
export async function lookup(client: DnsClient, cfg: DiscoveryQuery): Promise<Answer> {
  let ttl = Infinity;
  const targets: Target[] = [];
  if (cfg.type === 'SRV') {
    let records: Awaited<ReturnType<DnsClient['resolveSrv']>>;
    try {
      records = await client.resolveSrv(cfg.dns);
    } catch (err) {
      if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return { targets: [], ttlMs: undefined };
      throw err;
    }
    const resolved = await Promise.all(
      records.map(async (r) => {
        const v4 = await addresses(client, r.name, 4);
        return { r, addrs: v4.length > 0 ? v4 : await addresses(client, r.name, 6) };
      }),
    );
    for (const { r, addrs } of resolved) {
      for (const a of addrs) {
        ttl = Math.min(ttl, a.ttl);
        targets.push({ address: a.address, port: r.port, priority: r.priority });
      }
    }
    // The SRV record's own TTL is not reported by c-ares; the targets' TTLs bound the next lookup.
  } else {
    for (const a of await addresses(client, cfg.dns, cfg.type === 'A' ? 4 : 6)) {
      ttl = Math.min(ttl, a.ttl);
      targets.push({ address: a.address, port: cfg.port, priority: 0 });
    }
  }
  return { targets, ttlMs: Number.isFinite(ttl) ? ttl * 1000 : undefined };
}

/** When to ask again: the answer's TTL within [min_interval, interval]; after a failure, back off from min_interval up to interval. */
export function nextDelay(cfg: Pick<DiscoveryConfig, 'interval' | 'min_interval'>, answer: Answer | undefined, failuresInARow: number): number {
  if (!answer) return Math.min(cfg.interval, cfg.min_interval * 2 ** Math.min(failuresInARow - 1, 16));
  const ttl = answer.ttlMs ?? cfg.interval;
  return Math.min(cfg.interval, Math.max(cfg.min_interval, ttl));
}
