import type { Server } from 'node:http';
import type { AirgateConfig } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Listener, type ListenerHost } from './listener.js';
import { Runtime } from './runtime.js';
import { AdminServer } from '../admin/admin-server.js';
import type { BackendDeps } from '../upstream/backend.js';

export interface GatewayOptions {
  logger?: Logger;
  /** Injected time and randomness (tests). */
  deps?: Omit<BackendDeps, 'onEject'>;
}

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
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(config: AirgateConfig, options: GatewayOptions = {}) {
    this.logger = options.logger ?? createLogger(config.logging.level);
    this.runtime = new Runtime(config, this.logger, options.deps);
    for (const l of config.listeners) this.listeners.push(new Listener(l, this));
    this.admin = config.admin ? new AdminServer(config.admin.token, () => this.runtime, this.logger) : undefined;
  }

  async start(): Promise<void> {
    try {
      await Promise.all(this.listeners.map((l) => l.listen()));
      const a = this.runtime.config.admin;
      if (this.admin && a) await this.admin.listen(a.address.host, a.address.port);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.runtime.startHealthChecks();
    const cfg = this.runtime.config;
    this.logger.info(
      {
        listeners: this.listeners.map((l) => `${l.config.name}=${l.config.address.host}:${l.port}`),
        admin: this.admin ? `${this.runtime.config.admin!.address.host}:${this.admin.port}` : undefined,
        backends: Object.fromEntries(Object.entries(cfg.backends).map(([name, b]) => [name, b.servers.map((s) => `${s.name}=${s.url.origin}`)])),
        routes: cfg.routes.length,
      },
      'airgate started',
    );
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

  requestEnded(server: Server): void {
    this.inflight--;
    if (this.draining) {
      server.closeIdleConnections();
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
    for (const l of this.listeners) l.server.closeIdleConnections();
    if (this.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, grace]);
      clearTimeout(timer);
    }
    if (this.inflight > 0) this.logger.warn({ inflight: this.inflight }, 'grace period over; closing remaining connections');
    for (const l of this.listeners) l.server.closeAllConnections();
    await closed;
    await this.runtime.destroy();
    this.logger.info('airgate stopped');
  }
}
