import type { BackendConfig } from '../config/schema.js';
import type { UpstreamServer } from './server.js';

const MAX_MULTIPLIER = 10;

/**
 * Passive health (Envoy's outlier detection): a server that fails `consecutive_errors` attempts
 * in a row (5xx answers, resets, timeouts, refused connections) is ejected for
 * `base_ejection` × the number of times it has been ejected (capped at 10×). Never more than
 * `max_ejected` of the backend's servers are out at once (at least one may always be ejected
 * when the backend has two or more servers).
 */
export class OutlierDetector {
  private readonly servers: readonly UpstreamServer[];
  private readonly cfg: BackendConfig['outlier'];
  private readonly onEject: (server: UpstreamServer, forMs: number) => void;

  constructor(servers: readonly UpstreamServer[], cfg: BackendConfig['outlier'], onEject: (server: UpstreamServer, forMs: number) => void) {
    this.servers = servers;
    this.cfg = cfg;
    this.onEject = onEject;
  }

  success(server: UpstreamServer): void {
    server.recordSuccess();
  }

  failure(server: UpstreamServer, now: number): void {
    if (server.ejected(now)) return; // attempts started before the ejection prove nothing new
    if (server.recordFailure() < this.cfg.consecutive_errors) return;
    const ejected = this.servers.filter((s) => s.ejected(now)).length;
    const cap = this.servers.length < 2 ? 0 : Math.max(1, Math.floor(this.cfg.max_ejected * this.servers.length));
    if (ejected >= cap) return;
    const multiplier = Math.min(server.ejections + 1, MAX_MULTIPLIER);
    const forMs = this.cfg.base_ejection * multiplier;
    server.eject(now + forMs, multiplier);
    this.onEject(server, forMs);
  }
}
