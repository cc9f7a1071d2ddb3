import type { LimitVerdict } from '../policy/limits.js';
import type { Runtime } from '../server/runtime.js';
import { Refusal, type Authenticated, type Filter } from './context.js';

/**
 * Named rate limits, local or shared (the primary process across workers, Redis across
 * instances), checked before the request takes an upstream slot. The first limit exceeded
 * answers 429 with `Retry-After` and `RateLimit-*`.
 */
export function rateLimitFilter(runtime: Runtime): Filter<Authenticated, Authenticated> {
  const limits = runtime.limits;
  return function rateLimit(ctx) {
    if (limits.empty) return ctx;
    const subject = { req: ctx.req, route: ctx.route.name, host: ctx.host, path: ctx.path, method: ctx.method, client: ctx.client, user: ctx.identity?.user, session: ctx.identity?.sid };
    const v = limits.check(subject, Date.now());
    if (v instanceof Promise) return v.then((w) => (w ? refuse(ctx, w) : ctx));
    return v ? refuse(ctx, v) : ctx;
  };
}

function refuse(ctx: Authenticated, v: LimitVerdict): Refusal {
  ctx.record.rule = v.name;
  ctx.res.setHeader('ratelimit-limit', v.limit);
  ctx.res.setHeader('ratelimit-remaining', v.remaining);
  ctx.res.setHeader('ratelimit-reset', v.resetSeconds);
  return new Refusal('AIRGATE_ERR_RATE_LIMITED', { retryAfterSeconds: v.retryAfterSeconds, detail: `Rate limit ${v.name} exceeded.` });
}
