import { isIP } from 'node:net';
import { z } from 'zod';
import { describe, duration, name } from './types-helpers.js';
import { serverBalancingKeys } from './balancing-schema.js';

/** A nameserver: `10.96.0.10`, `127.0.0.1:5353`, `::1` or `[::1]:5353` (port 53 when none is given). */
const nameserver = z.unknown().transform((value, ctx): string => {
  if (typeof value === 'string') {
    const v = value.trim();
    if (isIP(v)) return v;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(v);
    if (m && isIP(m[1] ?? m[2]!) && Number(m[3]) >= 1 && Number(m[3]) <= 65_535) return v;
  }
  ctx.addIssue({ code: 'custom', message: `expected a nameserver IP address with an optional port, such as 10.96.0.10 or 127.0.0.1:5353, found ${describe(value)}` });
  return z.NEVER;
});

const dnsName = z.string().regex(/^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/, { message: 'expected a DNS name such as airflow-web.airflow.svc.cluster.local' });

/**
 * Servers found through DNS (HAProxy `server-template` + `resolvers`, Envoy STRICT_DNS): every
 * address an A/AAAA answer (or SRV target) holds becomes a server named after its address, with
 * the backend's settings. Lookups repeat at the answer's TTL, bounded by `min_interval` and
 * `interval`; a failed or empty answer keeps the servers known last.
 */
export const discoverySchema = z
  .strictObject({
    /** The name to resolve: a Kubernetes headless Service, or an SRV name such as `_http._tcp.airflow-web.airflow.svc.cluster.local`. */
    dns: dnsName,
    type: z.enum(['A', 'AAAA', 'SRV']).default('A'),
    /** The servers' port (A/AAAA); SRV answers carry their own. */
    port: z.number().int().min(1).max(65_535).optional(),
    scheme: z.enum(['http', 'https']).default('http'),
    /** Nameservers to ask, in order; default: the system's (/etc/resolv.conf). */
    resolvers: z.array(nameserver).min(1, { message: 'expected at least one nameserver, or leave resolvers out for the system ones' }).optional(),
    /** Longest time between lookups (also used when the answer carries no TTL, as with SRV). */
    interval: duration.default(30_000),
    /** Shortest time between lookups, whatever the TTL says (a TTL of 0 must not mean a lookup storm). */
    min_interval: duration.default(1_000),
    /** Time to wait for one answer from one nameserver. */
    timeout: duration.default(2_000),
    /** Attempts per nameserver before a lookup counts as failed. */
    tries: z.number().int().min(1).max(10).default(2),
    /** Servers kept at most (the first ones in address order); protects against a runaway answer. */
    max_servers: z.number().int().min(1).max(1_000).default(64),
    /** Settings of every discovered server (as on a fixed server). */
    weight: z.number().int().min(0).max(1000).default(1),
    ...serverBalancingKeys,
    /** Label for status pages; default: the DNS name. */
    name: name.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.type === 'SRV' && d.port !== undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'type SRV takes the port from each SRV answer; remove port' });
    if (d.type !== 'SRV' && d.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: `type ${d.type} needs the servers' port, e.g. port: 8080` });
    if (d.min_interval > d.interval) ctx.addIssue({ code: 'custom', path: ['min_interval'], message: 'expected min_interval not above interval' });
    if (d.min_interval < 100) ctx.addIssue({ code: 'custom', path: ['min_interval'], message: 'expected min_interval of at least 100ms' });
  })
  // Normalized to a tagged union on `type`: A/AAAA always have a port, SRV never.
  .transform(({ type, port, ...rest }) => (type === 'SRV' ? { ...rest, type, port: undefined } : port !== undefined ? { ...rest, type, port } : z.NEVER));

export type DiscoveryConfig = z.output<typeof discoverySchema>;
/** What one lookup needs: the name and its record type (with the port A/AAAA answers lack). */
export type DiscoveryQuery = { dns: string } & ({ type: 'SRV'; port: undefined } | { type: 'A' | 'AAAA'; port: number });
