import type { Runtime } from '../server/runtime.js';
import { authenticateFilter } from './authenticate.js';
import type { Authenticated, Filter, RequestContext, Routed } from './context.js';
import { Refusal } from './context.js';
import { loginGuardFilter } from './login-guard.js';
import { policyFilter } from './policy.js';
import { rateLimitFilter } from './rate-limit.js';
import { routeFilter } from './route.js';

/**
 * The request pipeline's filters for one runtime snapshot, in order: route → authenticate →
 * policy → login guard → rate limit (normalize runs before, at entry; forward after, as the
 * terminal step). A new filter is a module with a factory taking the runtime and returning a
 * named function; it goes into `checks` where it belongs.
 */
export interface Filters {
  readonly route: (ctx: RequestContext) => Routed | Refusal;
  readonly authenticate: Filter<Routed, Authenticated>;
  /** After identity: each may refuse, enrich (a body read, the DAGs named) or pass. */
  readonly checks: readonly Filter<Authenticated, Authenticated>[];
}

export function buildFilters(runtime: Runtime): Filters {
  return Object.freeze({
    route: routeFilter(runtime),
    authenticate: authenticateFilter(runtime),
    checks: Object.freeze([policyFilter(runtime), loginGuardFilter(runtime), rateLimitFilter(runtime)]),
  });
}
