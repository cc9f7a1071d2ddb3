import type { AirgateConfig } from '../config/schema.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfigFile } from '../config/load.js';
import type { AdminServer } from '../admin/admin-server.js';
import type { DiscoveryManager } from '../upstream/discovery/manager.js';
import { Authenticator } from '../auth/authenticator.js';
import { MemorySessionStore, type Revocation } from '../auth/session-store.js';
import { Listener, type ListenerHost } from './listener.js';
import { Runtime, type RuntimeDeps } from './runtime.js';

export type ReloadResult = { ok: true; listeners: string[]; added: string[]; removed: string[]; backends: string[]; routes: number } | { ok: false; errors: string[] };

/** What a reload needs of the gateway options. */
export interface ReloadOptions {
  configFile?: string | undefined;
  transformConfig?: ((cfg: AirgateConfig) => AirgateConfig) | undefined;
  deps?: RuntimeDeps | undefined;
  onRevoke?: ((match: Revocation, maxAgeMs: number) => Promise<void>) | undefined;
}

/** The gateway as a reload sees it: the runtime it swaps and the parts it re-configures. */
export interface Reloadable extends ListenerHost {
  runtime: Runtime;
  readonly listeners: Listener[];
  readonly discovery: DiscoveryManager;
  readonly admin: AdminServer | undefined;
  readonly reloads: { ok: number; failed: number };
  readonly bootId: string;
  attachBus(config: AirgateConfig): void;
}

/**
 * The authenticator for a runtime: a new one at start (`previous` undefined), or one taking over
 * the previous runtime's session store and signer on a reload (`Authenticator.carryOver`). Logouts
 * in the memory store are relayed to the other workers.
 */
export async function attachAuthenticator(runtime: Runtime, host: Pick<Reloadable, 'logger' | 'bootId'>, previous: Runtime | undefined, onRevoke: ReloadOptions['onRevoke']): Promise<void> {
  const config = runtime.config;
  if (!config.auth) return;
  runtime.auth = await Authenticator.create(config.auth, host.logger, host.bootId, previous?.auth, config.store.type === 'redis' ? config.store.url : undefined);
  if (runtime.auth.store instanceof MemorySessionStore) runtime.auth.store.relay = onRevoke;
}

/**
 * Reload: read and validate the config file again (or take `given`), bind new listeners, build a
 * new runtime carrying over what survives a reload (docs/architecture.md, "What survives a
 * reload"), then swap. In-flight requests finish on the runtime they started with. Any error
 * leaves everything as it was and is reported as `airgate check` reports it.
 */
export async function reloadGateway(g: Reloadable, options: ReloadOptions, given?: AirgateConfig): Promise<ReloadResult> {
  let config = given;
  if (!config) {
    if (!options.configFile) return reloadFailed(g, ['this gateway was not started from a file']);
    try {
      config = loadConfigFile(options.configFile);
    } catch (err) {
      return reloadFailed(g, err instanceof ConfigError ? err.message.split('\n') : [String(err)]);
    }
  }
  if (options.transformConfig) config = options.transformConfig(config);
  const keep = new Map<Listener, AirgateConfig['listeners'][number]>();
  const added: Listener[] = [];
  for (const lc of config.listeners) {
    const existing = g.listeners.find((l) => l.sameSocket(lc));
    if (existing) keep.set(existing, lc);
    else added.push(new Listener(lc, g));
  }
  try {
    await Promise.all(added.map((l) => l.listen()));
  } catch (err) {
    await Promise.all(added.map((l) => l.close().catch(() => undefined)));
    return reloadFailed(g, [`cannot listen: ${(err as Error).message}`]);
  }
  const old = g.runtime;
  let next: Runtime;
  try {
    next = new Runtime(config, g.logger, options.deps, old, g.observer.events);
    await attachAuthenticator(next, g, old, options.onRevoke);
  } catch (err) {
    await Promise.all(added.map((l) => l.close().catch(() => undefined)));
    return reloadFailed(g, [String((err as Error).message)]);
  }
  g.runtime = next;
  for (const l of added) g.observer.watchListener(l.config.name, l.server);
  g.discovery.configure(config);
  const removed = g.listeners.filter((l) => !keep.has(l));
  for (const [l, lc] of keep) l.update(lc);
  g.listeners.splice(0, g.listeners.length, ...keep.keys(), ...added);
  next.startHealthChecks();
  g.attachBus(config);
  void Promise.all(removed.map((l) => l.retire(config.shutdown.grace)));
  void old.retire();
  if (g.admin && config.admin) g.admin.setToken(config.admin.token);
  g.reloads.ok++;
  g.observer.configure(config);
  g.observer.events.push('reload', 'configuration reloaded', { added: added.map((l) => l.config.name), removed: removed.map((l) => l.config.name) });
  const summary = {
    listeners: g.listeners.map((l) => `${l.config.name}=${l.config.address.host}:${l.port}`),
    added: added.map((l) => l.config.name),
    removed: removed.map((l) => l.config.name),
    backends: Object.keys(config.backends),
    routes: config.routes.length,
  };
  g.logger.info(summary, 'configuration reloaded');
  return { ok: true, ...summary };
}

function reloadFailed(g: Pick<Reloadable, 'reloads' | 'observer' | 'logger'>, errors: string[]): ReloadResult {
  g.reloads.failed++;
  g.observer.events.push('reload', 'configuration reload failed; the running configuration stays', { errors });
  g.logger.error({ errors }, 'configuration reload failed; the running configuration stays');
  return { ok: false, errors };
}
