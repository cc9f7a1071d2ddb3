import { loadConfigText } from '../../src/config/load.js';
import { Backend, FULL, type BackendDeps } from '../../src/upstream/backend.js';
import type { Lease, UpstreamServer } from '../../src/upstream/server.js';

/**
 * A backend `airflow` built from YAML through the real loader, without a gateway around it.
 * `lines` are the backend's keys, indented relative to the backend (e.g. `balance: least-conn`,
 * `servers:`, `  - { name: web-1, url: "http://127.0.0.1:1" }`). The caller destroys it.
 */
export function backendFromYaml(lines: readonly string[], deps: BackendDeps): Backend {
  const yaml = ['listeners:', '  - name: public', '    address: 127.0.0.1:0', 'backends:', '  airflow:', ...lines.map((l) => `    ${l}`), 'routes:', '  - path: /', '    backend: airflow', ''].join('\n');
  const config = loadConfigText(yaml, 'test.yaml');
  return new Backend('airflow', config.backends.airflow!, deps);
}

/** Name of what `select` returned: a server name, 'full' or 'none'. */
export function pickName(b: Backend, hashKey?: string, exclude?: readonly UpstreamServer[], sticky?: string): string {
  const r = b.select(sticky, hashKey, exclude);
  if (r === undefined) return 'none';
  if (r === FULL) return 'full';
  return r.name;
}

/** How often each name came out of `n` picks. */
export function tally(b: Backend, n: number, hashKey?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = pickName(b, hashKey);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

const held = new WeakMap<UpstreamServer, Lease[]>();

/**
 * Requests in flight as a test wants them: take or release leases on `server` (none through its
 * backend, so nothing else happens) until exactly `n` taken here are held.
 */
export function holdInflight(server: UpstreamServer, n: number): void {
  let leases = held.get(server);
  if (!leases) held.set(server, (leases = []));
  while (leases.length < n) leases.push(server.lease());
  while (leases.length > n) leases.pop()?.release();
}

/** A server that just came back from down: slow start ramps from `now`. */
export function justReturned(server: UpstreamServer, now: number): void {
  server.setHealth('down', now);
  server.setHealth('up', now);
}
