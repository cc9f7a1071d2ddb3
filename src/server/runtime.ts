import type { AirgateConfig } from '../config/schema.js';
import { Backend, type BackendDeps } from '../upstream/backend.js';
import type { Logger } from '../observability/logger.js';
import { HealthChecker } from '../upstream/health/checker.js';
import { systemClock, systemRandom } from '../core/clock.js';
import { Router } from './router.js';
import { TrustedProxies } from './trusted-proxies.js';
import type { EventLog } from '../observability/events.js';
import type { Authenticator } from '../auth/authenticator.js';
import { PolicyEvaluator } from '../policy/evaluator.js';
import { RateLimits } from '../policy/limits.js';
import { SharedGcra } from '../policy/redis-gcra.js';
import type { SharedCounter } from '../policy/shared-counter.js';
import { GcraStore } from '../policy/rate-limiter.js';
import { LoginGuard } from '../policy/login-guard.js';
import { headerRules, type HeaderRules } from '../proxy/headers.js';
import { LOGIN_COOKIE } from '../auth/authenticator.js';
import { ENCODING_HEADER } from '../pipeline/authenticate.js';
import { buildFilters, type Filters } from '../pipeline/filters.js';

/**
 * Everything built from one configuration snapshot: backends with their pools, and the
 * compiled router. Immutable once built; a request reads it once at entry and keeps it.
 */
/** Injected time and randomness (tests), and the counter store workers share through the primary. */
export type RuntimeDeps = Omit<BackendDeps, 'onEject'> & { sharedCounter?: SharedCounter };

export class Runtime {
  readonly config: AirgateConfig;
  readonly logger: Logger;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly router: Router;
  readonly checkers: readonly HealthChecker[];
  readonly trusted: TrustedProxies;
  /** Header hygiene: identity headers airgate sets (client copies stripped on every route) and airgate's own cookies (never forwarded). */
  readonly headerRules: HeaderRules;
  readonly policy: PolicyEvaluator;
  readonly publicPaths: readonly string[];
  readonly limits: RateLimits;
  readonly loginGuard: LoginGuard;
  /** Cluster-degraded reasons reported by the primary (workers of `workers: N`). */
  readonly remoteClusterDegraded = new Map<string, string | null>();
  /** Set by the gateway before the runtime serves (building it is asynchronous: OIDC discovery). */
  auth: Authenticator | undefined;
  /** The request pipeline's filters, each built from its slice of this runtime. */
  readonly filters: Filters;

  /** `previous`: the runtime a reload replaces; servers that remain (same backend and name) carry their state over. */
  constructor(config: AirgateConfig, logger: Logger, deps: RuntimeDeps = {}, previous?: Runtime, events?: EventLog) {
    this.config = config;
    this.logger = logger;
    this.trusted = new TrustedProxies(config.trusted_proxies);
    const h = config.auth?.headers ?? { user: 'X-Auth-User', email: 'X-Auth-Email', roles: 'X-Auth-Roles', groups: 'X-Auth-Groups' };
    const assertion = config.auth?.assertion.header ?? 'X-Airgate-Assertion';
    const own = [config.auth?.session?.cookie ?? 'airgate_session', LOGIN_COOKIE, ...Object.values(config.backends).flatMap((b) => (b.sticky ? [b.sticky.cookie] : []))];
    this.headerRules = headerRules([h.user, h.email, h.roles, h.groups, assertion, ENCODING_HEADER], own);
    this.auth = undefined;
    this.policy = new PolicyEvaluator(config.policy.rules);
    this.publicPaths = config.policy.public.map((p) => p.toLowerCase());
    const carried: Partial<ReturnType<typeof carryOver>> = previous ? carryOver(previous, config) : {};
    const store = config.store;
    const shared = store.type === 'redis' ? (carried.shared ?? new SharedGcra(store.url, new GcraStore(config.limit_store_size), logger)) : deps.sharedCounter;
    this.limits = new RateLimits(config.rate_limits, config.limit_store_size, shared);
    if (previous) this.limits.carryOver(previous.limits);
    this.loginGuard = carried.loginGuard ?? new LoginGuard(config.login_protection, config.limit_store_size);
    const backends = new Map<string, Backend>();
    const onEject: BackendDeps['onEject'] = (server, forMs) => {
      logger.warn({ server: server.id, ejections: server.ejections, forMs }, 'server ejected after consecutive failures');
      events?.push('ejection', `${server.id} ejected for ${Math.round(forMs / 1000)} s after consecutive failures`);
    };
    for (const [name, cfg] of Object.entries(config.backends)) backends.set(name, new Backend(name, cfg, { ...deps, onEject }, previous?.backends.get(name)));
    this.backends = backends;
    this.router = new Router(config.routes, backends);
    this.filters = buildFilters(this);
    const clock = deps.clock ?? systemClock;
    const random = deps.random ?? systemRandom;
    this.checkers = [...backends.values()]
      .filter((b) => b.config.health.enabled)
      .map(
        (b) =>
          new HealthChecker(
            b.name,
            b.servers,
            b.config,
            { clock, random },
            {
              transition: (server, t, tookMs, probe) => {
                b.settle(); // a retiring server leaves once a successor is in rotation
                logger[t.to === 'down' ? 'warn' : 'info']({ server: server.id, from: t.from, to: t.to, reason: t.reason, tookMs: Math.round(tookMs), checkLatencyMs: Math.round(probe.latencyMs) }, `server ${server.id} is ${t.to}`);
                events?.push('health', `${server.id} ${t.from} → ${t.to}: ${t.reason}`, { tookMs: Math.round(tookMs) });
              },
              cluster: (backend, reason) => {
                if (reason) logger.error({ backend, reason }, `cluster degraded: ${reason}; all servers stay in rotation`);
                else logger.info({ backend }, 'cluster healthy again');
                events?.push('cluster', reason ? `${backend}: cluster degraded (${reason})` : `${backend}: cluster healthy again`);
              },
            },
          ),
      );
    // Servers discovery adds or removes are checked from when they join until they leave.
    for (const c of this.checkers) backends.get(c.backend)?.onMembership({ added: (s) => c.add(s), removed: (s) => c.remove(s) });
  }

  routes(): import('./router.js').CompiledRoute[] {
    return this.router.all();
  }

  /** Start active health checks (once the gateway listens). */
  startHealthChecks(): void {
    for (const c of this.checkers) c.start();
  }

  checker(backend: string): HealthChecker | undefined {
    return this.checkers.find((c) => c.backend === backend);
  }

  /** Why a backend's cluster is degraded (its own checker, or the primary's word), or undefined. */
  clusterDegraded(backend: string): string | undefined {
    return this.checker(backend)?.clusterDegraded ?? this.remoteClusterDegraded.get(backend) ?? undefined;
  }

  /** After a reload: stop checking, and close each pool no successor took over once its requests are done. */
  async retire(): Promise<void> {
    await Promise.all(this.checkers.map((c) => c.stop()));
    // Requests queued on the old snapshot are served by it (or time out) before its pools close.
    await Promise.all(
      [...this.backends.values()].map(async (b) => {
        await b.queue.drained();
        await b.close();
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.checkers.map((c) => c.stop()));
    await Promise.all([...this.backends.values()].map((b) => b.close()));
  }

  async destroy(): Promise<void> {
    if (this.limits.shared instanceof SharedGcra) this.limits.shared.close();
    await Promise.all(this.checkers.map((c) => c.stop()));
    await Promise.all([...this.backends.values()].map((b) => b.destroy()));
  }
}

/**
 * A reload: what a runtime takes over from the one it replaces, besides what each module carries
 * itself (`RateLimits.carryOver`, `Backend.carryOver`, `UpstreamServer.carryOver`,
 * `Authenticator.carryOver`): the Redis counter client while the store is unchanged, and the login
 * lockouts. Routes, policy, filters and health checkers are built afresh.
 */
function carryOver(previous: Runtime, config: AirgateConfig): { shared?: SharedCounter; loginGuard: LoginGuard } {
  const sameStore = JSON.stringify(previous.config.store) === JSON.stringify(config.store);
  return { ...(sameStore && previous.limits.shared ? { shared: previous.limits.shared } : {}), loginGuard: previous.loginGuard };
}
