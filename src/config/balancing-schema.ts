import { z } from 'zod';
import { describe, duration } from './types-helpers.js';

/** `20%` → 0.2. Percentages are written with their sign so nobody wonders whether 20 means 20 or 2000 %. */
export const percent = z.unknown().transform((value, ctx): number => {
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
    if (m && Number(m[1]) <= 100) return Number(m[1]) / 100;
  }
  ctx.addIssue({ code: 'custom', message: `expected a percentage between 0% and 100% such as 20%, found ${describe(value)}` });
  return z.NEVER;
});

export const BALANCERS = ['peak-ewma', 'round-robin', 'least-conn', 'random-two', 'hash'] as const;

/** Where `balance: hash` takes its key from. */
const hashKey = z.unknown().transform((value, ctx): { from: 'cookie' | 'header' | 'client-ip' | 'user'; name: string } => {
  if (value === 'client-ip' || value === 'user') return { from: value, name: '' };
  if (typeof value === 'string') {
    const m = /^(cookie|header):([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/.exec(value);
    if (m) return { from: m[1] as 'cookie' | 'header', name: m[1] === 'header' ? m[2]!.toLowerCase() : m[2]! };
  }
  ctx.addIssue({ code: 'custom', message: `expected client-ip, user, cookie:NAME or header:NAME, found ${describe(value)}` });
  return z.NEVER;
});

export const RETRY_CONDITIONS = ['connect-failure', 'reset-before-response', 'timeout', '502', '503', '504'] as const;

const retryCondition = z.union(
  [
    z.enum(RETRY_CONDITIONS),
    z
      .number()
      .int()
      .refine((n) => n === 502 || n === 503 || n === 504)
      .transform((n) => String(n) as '502' | '503' | '504'),
  ],
  {
    error: `expected one of ${RETRY_CONDITIONS.join(', ')}`,
  },
);

export const balancingKeys = {
  balance: z.enum(BALANCERS).default('peak-ewma'),
  peak_ewma: z
    .strictObject({
      /** How fast old latency observations fade; also how soon an idle slow server is tried again. */
      decay: duration.default(10_000),
    })
    .prefault({}),
  hash: z
    .strictObject({
      key: hashKey,
      /** No server takes more than this times the average load (consistent hashing with bounded loads). */
      balance_factor: z.number().min(1).max(10).default(1.25),
    })
    .optional(),
  sticky: z
    .strictObject({
      cookie: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected a cookie name of letters, digits, "_" or "-"' })
        .default('airgate_node'),
      ttl: duration.default(43_200_000),
      /** HMAC keys: the first signs, all verify, so keys rotate without breaking sessions. Share them between instances. */
      keys: z.array(z.string().min(16, { message: 'expected a key of at least 16 characters' })).min(1, { message: 'expected at least one key' }),
    })
    .optional(),
  retries: z
    .strictObject({
      /** Retries after the first attempt; each goes to a server not tried yet. */
      attempts: z.number().int().min(0).max(10).default(2),
      on: z.array(retryCondition).default(['connect-failure', 'reset-before-response']),
      /** Retries may add at most this share of requests (over 10 s, plus 3 retries so light traffic can retry). */
      budget: percent.default(0.2),
    })
    .prefault({}),
  queue: z
    .strictObject({
      size: z.number().int().min(0).max(100_000).default(100),
      timeout: duration.default(5_000),
    })
    .prefault({}),
  outlier: z
    .strictObject({
      consecutive_errors: z.number().int().min(1).max(1000).default(5),
      base_ejection: duration.default(30_000),
      max_ejected: percent.default(0.5),
    })
    .prefault({}),
  /** A server coming back ramps its share up from near zero over this time; 0 disables. */
  slow_start: duration.default(0),
};

export const serverBalancingKeys = {
  /** Requests in flight to this server at most; 0 = no limit. Beyond it requests queue. */
  max_connections: z.number().int().min(0).max(65_536).default(0),
  /** Lower tiers take traffic only while no server of a higher tier is available. */
  tier: z.number().int().min(1).max(9).optional(),
  /** Shorthand for `tier: 2`. */
  backup: z.boolean().default(false),
};

export const routeRetryKeys = {
  retries: z
    .strictObject({
      /** Methods retried besides the idempotent ones (GET, HEAD, OPTIONS, PUT, DELETE). */
      methods: z.array(z.enum(['POST', 'PATCH'])).default([]),
      /** Also replay Airflow dag-run trigger POSTs (`/api/v1|v2/dags/{id}/dagRuns`); off: a trigger is never sent twice. */
      dag_run_triggers: z.boolean().default(false),
    })
    .prefault({}),
};
