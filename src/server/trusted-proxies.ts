import { BlockList, isIPv4 } from 'node:net';
import type { AirgateConfig } from '../config/schema.js';

/**
 * `trusted_proxies`: the peers whose X-Forwarded-For and PROXY headers are believed. The client
 * address of a request is the peer's, unless the peer is trusted, in which case it is the
 * rightmost address of X-Forwarded-For that is not itself a trusted proxy.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: AirgateConfig['trusted_proxies']) {
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
    this.empty = cidrs.length === 0;
  }

  trusts(address: string): boolean {
    if (this.empty || !address) return false;
    return this.list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  }

  /** The real client behind a trusted peer, from the X-Forwarded-For chain (rightmost untrusted hop). */
  clientFrom(xff: string, peer: string): string {
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (hop && !this.trusts(hop)) return hop;
    }
    return hops[0]?.trim() || peer;
  }
}
