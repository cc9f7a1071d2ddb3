import { segmentPrefix } from '../core/prefix.js';
import type { Runtime } from '../server/runtime.js';
import { Refusal, type RequestContext, type Routed } from './context.js';
import { learn } from './stage-context.js';

/**
 * Choose the route by canonical host and normalized path. WebSocket upgrades go on only where
 * the route allows them. Public paths (health, static files) are noted: on routes that
 * authenticate or judge, they skip identity and policy.
 */
export function routeFilter(runtime: Runtime): (ctx: RequestContext) => Routed | Refusal {
  const publicPaths = runtime.publicPaths;
  const isPublic = (path: string): boolean => {
    const lower = path.toLowerCase();
    for (const p of publicPaths) if (segmentPrefix(p, lower)) return true;
    return false;
  };
  return function route(ctx) {
    const route = runtime.router.match(ctx.host, ctx.target);
    if (!route) return new Refusal('AIRGATE_ERR_NO_ROUTE');
    ctx.record.route = route.name;
    ctx.record.backend = route.backend.name;
    if (ctx.tunnel && !route.websocket) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'WebSocket upgrades are not enabled on this route.' });
    const judged = route.auth === 'sso' || route.auth === 'bearer' || route.policy;
    return learn<Routed>(ctx, { route, isPublic: judged && isPublic(ctx.path) });
  };
}
