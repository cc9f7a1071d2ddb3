import type { AirgateConfig } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Listener, type ListenerHost } from './listener.js';
import { Runtime, type RuntimeDeps } from './runtime.js';
import { attachAuthenticator, reloadGateway, type ReloadResult } from './reload.js';
import { AdminServer } from '../admin/admin-server.js';
import { Observer, type ObserverOptions } from '../observability/observer.js';
import { newBootId } from '../auth/authenticator.js';
import { MemorySessionStore, type Revocation } from '../auth/session-store.js';
import { RedisBus } from '../store/redis-bus.js';
import { DiscoveryManager, type DiscoveryDeps, type DiscoverySnapshot } from '../upstream/discovery/manager.js';

export interface GatewayOptions {
  logger?: Logger;
  /** The file the config came from; `reload()` reads it again. */
  configFile?: string;
  /** Injected time and randomness (tests), and the counter store workers share through the primary. */
  deps?: RuntimeDeps;
  /** Capture access / audit lines (tests). */
  observer?: ObserverOptions;
  /** Adjust every loaded configuration (a worker turns its own health checks off: the primary checks). */
  transformConfig?: (cfg: AirgateConfig) => AirgateConfig;
  /** Told when the admin API changed a server (a worker relays it to its siblings). */
  onAdminChange?: (change: AdminChange) => void;
  /** Told of every logout with the memory session store (a worker relays it to its siblings). */
  onRevoke?: (match: Revocation, maxAgeMs: number) => Promise<void>;
  /** The metrics of the whole machine (workers of `workers: N` ask the primary to add them up). */
  machineMetrics?: () => Promise<string>;
  /** The status of the whole machine, likewise. */
  machineStatus?: () => Promise<object>;
  /** Reload every worker of the machine (the admin API of `workers: N` asks the primary). */
  machineReload?: () => Promise<{ ok: boolean }>;
  /** DNS discovery: resolve here (default), or take the primary's lists from `applyHealth` (a worker). */
  discovery?: 'resolve' | 'remote';
  /** Applied before the listeners open (a worker starts with the primary's servers and health). */
  initialHealth?: HealthSnapshot;
  /** Injected DNS clients and timers (tests). */
  discoveryDeps?: DiscoveryDeps;
}

export interface AdminChange {
  backend: string;
  server: string;
  state?: 'ready' | 'drain' | 'maint';
  weight?: number;
}

/** Health as the machine's single checker sees it, sent to every worker. */
export interface HealthSnapshot {
  servers: Record<string, 'up' | 'degraded' | 'down'>;
  clusterDegraded: Record<string, string | null>;
  /** Servers and numbers of each discovering backend (DNS is resolved once per machine). */
  discovery?: DiscoverySnapshot;
}

export type { ReloadResult } from './reload.js';

/**
 * The running gateway: the current runtime snapshot, the listeners, and the lifecycle
 * (start, graceful stop). Listeners read `runtime` once per request.
 */
export class Gateway implements ListenerHost {
  runtime: Runtime;
  readonly logger: Logger;
  readonly listeners: Listener[] = [];
  draining = false;
  readonly admin: AdminServer | undefined;
  readonly observer: Observer;
  readonly onAdminChange: ((c: AdminChange) => void) | undefined;
  readonly machineMetrics: (() => Promise<string>) | undefined;
  readonly machineStatus: (() => Promise<object>) | undefined;
  readonly machineReload: (() => Promise<{ ok: boolean }>) | undefined;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly options: GatewayOptions;
  private reloading: Promise<ReloadResult> | undefined;
  /** This start of the gateway: sessions of the memory store end with it. */
  readonly bootId = newBootId();
  /** Reloads that succeeded / failed since start. */
  readonly reloads = { ok: 0, failed: 0 };
  readonly discovery: DiscoveryManager;

  constructor(given: AirgateConfig, options: GatewayOptions = {}) {
    this.options = options;
    const config = options.transformConfig ? options.transformConfig(given) : given;
    this.logger = options.logger ?? createLogger(config.logging.level);
    this.observer = new Observer(
      config,
      this.logger,
      () => this.runtime,
      {
        reloads: this.reloads,
        certificates: () => this.listeners.flatMap((l) => (l.certs ? l.certs.certificates.map((c) => ({ listener: l.config.name, ...c })) : [])),
        acme: () => this.listeners.flatMap((l) => (l.certs?.acme ? [{ listener: l.config.name, name: l.certs.acme.name, ...l.certs.acme.renewals }] : [])),
      },
      options.observer,
    );
    this.runtime = new Runtime(config, this.logger, options.deps, undefined, this.observer.events);
    for (const l of config.listeners) this.listeners.push(new Listener(l, this));
    this.admin = config.admin ? new AdminServer(config.admin.token, this, this.logger) : undefined;
    this.onAdminChange = options.onAdminChange;
    this.machineMetrics = options.machineMetrics;
    this.machineStatus = options.machineStatus;
    this.machineReload = options.machineReload;
    for (const l of this.listeners) this.observer.watchListener(l.config.name, l.server);
    this.discovery = new DiscoveryManager(
      () => this.runtime.backends,
      this.logger,
      (backend, plan) => {
        const text = [...plan.add.map((s) => `+${s.name}`), ...plan.retire.map((n) => `-${n} (draining)`)].join(' ');
        this.logger.info({ backend, added: plan.add.map((s) => s.name), retiring: plan.retire }, `discovery: ${backend} ${text}`);
        this.observer.events.push('discovery', `${backend}: ${text}`);
      },
      options.discovery,
      options.discoveryDeps,
    );
    this.discovery.configure(config);
  }

  /** Events shared with every instance through Redis (store: redis). */
  private bus: RedisBus | undefined;

  /** Connect the Redis bus once `store: redis` is configured (at start, or by the first reload that configures it). */
  attachBus(config: AirgateConfig): void {
    if (config.store.type !== 'redis' || this.bus) return;
    this.bus = new RedisBus(config.store.url, this.logger);
    this.runtime.loginGuard.attach(this.bus);
    this.observer.drift.attach(this.bus);
  }

  async start(): Promise<void> {
    this.attachBus(this.runtime.config);
    await this.discovery.start();
    if (this.options.initialHealth) this.applyHealth(this.options.initialHealth);
    await attachAuthenticator(this.runtime, this, undefined, this.options.onRevoke);
    const adminCfg = this.runtime.config.admin;
    try {
      await Promise.all(this.listeners.map((l) => l.listen()));
      if (this.admin && adminCfg) await this.admin.listen(adminCfg.address.host, adminCfg.address.port);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.runtime.startHealthChecks();
    const cfg = this.runtime.config;
    this.logger.info(
      {
        listeners: this.listeners.map((l) => `${l.config.name}=${l.config.address.host}:${l.port}`),
        admin: this.admin && adminCfg ? `${adminCfg.address.host}:${this.admin.port}` : undefined,
        backends: Object.fromEntries([...this.runtime.backends.values()].map((b) => [b.name, b.servers.map((s) => `${s.name}=${s.url.origin}`)])),
        routes: cfg.routes.length,
      },
      'airgate started',
    );
  }

  /** Reload (docs: `reloadGateway`); reloads run one at a time. */
  reload(config?: AirgateConfig): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      await this.reloading?.catch(() => undefined);
      return reloadGateway(this, this.options, config);
    };
    const p = run();
    this.reloading = p;
    return p;
  }

  /** Apply a logout made by another worker (memory session store). */
  applyRevocation(match: Revocation, maxAgeMs: number): void {
    const store = this.runtime.auth?.store;
    if (store instanceof MemorySessionStore) store.applyRevocation(match, maxAgeMs);
  }

  /** Apply an operator change made through another worker's admin API. */
  applyAdminChange(c: AdminChange): void {
    const b = this.runtime.backends.get(c.backend);
    const s = b?.server(c.server);
    if (!b || !s) return;
    if (c.state) s.setAdmin(c.state, b.clock.now(), b.config.drain_grace);
    if (c.weight !== undefined) s.setWeight(c.weight);
  }

  /** Apply the machine's health results (workers of `workers: N` do not check themselves). */
  applyHealth(h: HealthSnapshot): void {
    if (h.discovery) this.discovery.applyRemote(h.discovery, h.servers);
    for (const b of this.runtime.backends.values()) {
      const now = b.clock.now();
      for (const s of b.servers) {
        const state = h.servers[s.id];
        if (state) s.setHealth(state, now);
      }
      b.settle();
      this.runtime.remoteClusterDegraded.set(b.name, h.clusterDegraded[b.name] ?? null);
    }
  }

  /** The bound port of a listener by name (useful when the config asks for port 0). */
  port(listenerName?: string): number {
    const l = listenerName ? this.listeners.find((x) => x.config.name === listenerName) : this.listeners[0];
    if (!l) throw new Error(`no listener named ${listenerName}`);
    return l.port;
  }

  requestStarted(): void {
    this.inflight++;
  }

  requestEnded(listener: Listener): void {
    this.inflight--;
    if (this.draining) {
      listener.closeIdle();
      if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish within `graceMs`,
   * close idle keep-alive connections as soon as they are idle, then cut whatever remains.
   */
  async stop(graceMs = this.runtime.config.shutdown.grace): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.logger.info({ inflight: this.inflight, graceMs }, 'airgate stopping');
    const closed = Promise.all([...this.listeners.map((l) => l.close()), this.admin?.close()]);
    for (const l of this.listeners) l.closeIdle();
    if (this.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, grace]);
      clearTimeout(timer);
    }
    if (this.inflight > 0) this.logger.warn({ inflight: this.inflight }, 'grace period over; closing remaining connections');
    for (const l of this.listeners) l.closeAll();
    await closed;
    this.discovery.stop();
    await this.runtime.destroy();
    this.runtime.auth?.store.close();
    this.bus?.close();
    this.observer.close();
    this.logger.info('airgate stopped');
  }
}
