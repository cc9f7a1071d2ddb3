import { readBoundedBody } from '../core/body.js';
import { GatewayError } from '../core/errors.js';
import { dagScope, dagsFromBody, type DagScope } from '../policy/dag-sources.js';
import type { Runtime } from '../server/runtime.js';
import { Refusal, type Authenticated, type Filter } from './context.js';
import { learn } from './stage-context.js';

const NO_DAGS: DagScope = Object.freeze({ kind: 'none' });
const EMPTY = Buffer.alloc(0);

/** A failure while reading a body the gateway must see: its own error (413, 408), or the client went away. */
export function bodyRefusal(err: unknown): Refusal {
  return new Refusal(err instanceof GatewayError ? err.code : 'AIRGATE_ERR_BAD_REQUEST', { detail: err instanceof GatewayError ? undefined : 'The request body could not be read.' });
}

/**
 * Route policy (routes with `policy: true`, public paths excepted): the ordered allow/deny rules
 * judge the canonical host, normalized path, method, identity, client address and every DAG the
 * request names — from the path, the query and, where Airflow reads it there, a form or JSON
 * body (read whole, up to `policy.body_limit`, then forwarded as read).
 */
export function policyFilter(runtime: Runtime): Filter<Authenticated, Authenticated> {
  const policy = runtime.policy;
  const maxBytes = runtime.config.policy.body_limit;
  return function judge(ctx) {
    if (!ctx.route.policy || ctx.isPublic) return ctx;
    const scope = policy.judgesDags ? dagScope(ctx.method, ctx.path, ctx.query) : NO_DAGS;
    if (scope.kind !== 'body') return decide(ctx, scope);
    if (!ctx.bodied) return decide(ctx, dagsFromBody(scope, ctx.req.headers['content-type'], EMPTY));
    if (ctx.body) return decide(ctx, dagsFromBody(scope, ctx.req.headers['content-type'], ctx.body));
    return readBoundedBody(ctx.req, { maxBytes, idleMs: ctx.listener.bodyIdleMs }).then((body) => decide(learn<Authenticated>(ctx, { body }), dagsFromBody(scope, ctx.req.headers['content-type'], body)), bodyRefusal);
  };

  function decide(ctx: Authenticated, dags: DagScope): Authenticated | Refusal {
    const id = ctx.identity;
    const d = policy.decide({ host: ctx.host, path: ctx.path, method: ctx.method, dags, user: id?.user, email: id?.email, groups: id?.groups ?? [], role: id?.role, auth: id?.method ?? 'none', source: ctx.client });
    ctx.record.policy = d.allow ? 'allow' : 'deny';
    ctx.record.rule = d.rule;
    if (!d.allow) {
      runtime.logger.info({ requestId: ctx.id, user: id?.user, client: ctx.client, method: ctx.method, path: ctx.path, rule: d.rule, reason: d.reason }, 'request denied by policy');
      return new Refusal('AIRGATE_ERR_FORBIDDEN', { detail: d.reason });
    }
    return learn<Authenticated>(ctx, { dags });
  }
}
