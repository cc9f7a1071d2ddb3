import { isIPv6 } from 'node:net';
import type { DiscoveryConfig } from '../../config/discovery-schema.js';
import type { ServerConfig } from '../../config/schema.js';
import type { Target } from './dns.js';

/**
 * A discovered server's name, stable for its address: `10.0.0.5-8080`, `fd00--5-8080` (":" of an
 * IPv6 address becomes "-"). Names, not addresses, go into sticky cookies and metrics labels, so
 * they must stay within the config's name alphabet; the same address always gives the same name.
 */
export function serverName(address: string, port: number): string {
  return `${address.replace(/:/g, '-')}-${port}`;
}

/**
 * The servers an answer asks for, with the discovery's settings: deduplicated, in address
 * order, at most `max_servers`. SRV priorities become tiers (the lowest priority is the
 * discovery's tier, the next one tier + 1 …), so lower-priority targets are backups.
 */
export function wantedServers(targets: readonly Target[], cfg: DiscoveryConfig): ServerConfig[] {
  const base = cfg.tier ?? (cfg.backup ? 2 : 1);
  const priorities = [...new Set(targets.map((t) => t.priority))].sort((a, b) => a - b);
  const byName = new Map<string, ServerConfig>();
  for (const t of targets) {
    const name = serverName(t.address, t.port);
    if (byName.has(name)) continue;
    const host = isIPv6(t.address) ? `[${t.address}]` : t.address;
    byName.set(name, {
      name,
      url: new URL(`${cfg.scheme}://${host}:${t.port}`),
      weight: cfg.weight,
      max_connections: cfg.max_connections,
      backup: cfg.backup,
      tier: Math.min(9, base + priorities.indexOf(t.priority)),
    });
  }
  return [...byName.values()].sort((a, b) => compareUrls(a.url, b.url)).slice(0, cfg.max_servers);
}

function compareUrls(a: URL, b: URL): number {
  return a.hostname === b.hostname ? Number(a.port) - Number(b.port) : a.hostname < b.hostname ? -1 : 1;
}

/** A discovered server as the backend holds it now. */
export interface Member {
  name: string;
  retiring: boolean;
}

export interface Plan {
  /** Servers to add (or to take back, when a retiring one of that name exists). */
  add: ServerConfig[];
  /** Names of servers to retire (drain, then remove). */
  retire: string[];
}

/**
 * The changes that turn the backend's discovered servers (`current`) into `wanted`. An empty
 * `wanted` changes nothing: an empty answer keeps the servers known last, never an empty backend.
 */
export function reconcile(wanted: readonly ServerConfig[], current: readonly Member[]): Plan {
  if (wanted.length === 0) return { add: [], retire: [] };
  const live = new Map(current.map((m) => [m.name, m]));
  const wantedNames = new Set(wanted.map((w) => w.name));
  return {
    add: wanted.filter((w) => live.get(w.name)?.retiring !== false),
    retire: current.filter((m) => !m.retiring && !wantedNames.has(m.name)).map((m) => m.name),
  };
}
