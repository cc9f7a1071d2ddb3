import { z } from 'zod';
import { cidr } from './tls-schema.js';
import { describe, duration } from './types-helpers.js';

const match = z.strictObject({
  hosts: z.array(z.string()).optional(),
  // Path prefixes such as /api/v1, or globs such as /api/v?/dags/x*
  paths: z.array(z.string().regex(/^\//, { message: 'expected a path starting with "/"' })).optional(),
  methods: z.array(z.string().regex(/^[A-Z]+$/, { message: 'expected an upper-case HTTP method' })).optional(),
  /** DAG id globs (`team_a_*`), matched against the DAG a request is about. */
  dags: z.array(z.string()).optional(),
  users: z.array(z.string()).optional(),
  email_domains: z.array(z.string()).optional(),
  groups: z.array(z.string()).optional(),
  roles: z.array(z.string()).optional(),
  auth: z.array(z.enum(['none', 'oidc', 'bearer'])).optional(),
  sources: z.array(cidr).optional(),
});

/** `10/s`, `600/m`, `5000/h` → tokens per millisecond. */
const rate = z.unknown().transform((value, ctx): { count: number; perMs: number; text: string } => {
  if (typeof value === 'string') {
    const m = /^(\d+)\s*\/\s*(s|m|h)$/.exec(value.trim());
    if (m && Number(m[1]) > 0) return { count: Number(m[1]), perMs: { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'], text: value };
  }
  ctx.addIssue({ code: 'custom', message: `expected a rate such as 10/s, 600/m or 5000/h, found ${describe(value)}` });
  return z.NEVER;
});

const limitKey = z.union([z.enum(['client_ip', 'user', 'session']), z.string().regex(/^header:[A-Za-z0-9-]+$/, { message: 'expected client_ip, user, session or header:NAME' })]);

export const policyKeys = {
  policy: z
    .strictObject({
      /** Path prefixes anyone may reach on any route without authentication or rules (health, static assets). `/_airgate/` is always public. */
      public: z.array(z.string().regex(/^\//)).default(['/health', '/api/v1/health', '/api/v2/monitor/health', '/api/v2/version', '/static/']),
      rules: z.array(z.strictObject({ name: z.string().min(1), effect: z.enum(['allow', 'deny']), match })).default([]),
      /** Largest form or JSON body read to find DAG ids (POST /clear, /api/v2/backfills, …) and login user names; larger ones answer 413. */
      body_limit: z.number().int().min(1024).max(16_777_216).default(65_536),
    })
    .prefault({}),
  rate_limits: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        match: match
          .pick({ paths: true, methods: true, hosts: true })
          .extend({ routes: z.array(z.string()).optional() })
          .prefault({}),
        /** What is counted together: one bucket per distinct key (combine several). */
        key: z.array(limitKey).min(1).default(['client_ip']),
        rate,
        burst: z.number().int().min(1).default(1),
      }),
    )
    .default([]),
  /** Failed logins (airgate's callback errors, Airflow's password form) lock an IP or user name out for a growing time. */
  login_protection: z
    .strictObject({
      enabled: z.boolean().default(true),
      max_failures: z.number().int().min(1).default(5),
      window: duration.default(300_000),
      lockout: duration.default(60_000),
      max_lockout: duration.default(3_600_000),
    })
    .prefault({}),
  /** Where rate-limit counters live: this instance's memory, or Redis shared by every instance. */
  store: z
    .strictObject({
      type: z.enum(['memory', 'redis']).default('memory'),
      url: z
        .string()
        .regex(/^rediss?:\/\//, { message: 'expected a redis:// or rediss:// URL' })
        .optional(),
    })
    .prefault({})
    // Normalized to a tagged union: code that finds `type: 'redis'` has its url without asserting it.
    .transform((s, ctx): { type: 'memory' } | { type: 'redis'; url: string } => {
      if (s.type === 'memory') return { type: 'memory' };
      if (s.url !== undefined) return { type: 'redis', url: s.url };
      ctx.addIssue({ code: 'custom', message: 'store type redis needs a url' });
      return z.NEVER;
    }),
  /** Entries kept per in-memory limiter store; the oldest are dropped beyond it (a key flood cannot grow memory without limit). */
  limit_store_size: z.number().int().min(1000).max(10_000_000).default(100_000),
};

export const routePolicyKeys = {
  /** Apply `policy.rules` to this route: a request no allow rule matches is denied. */
  policy: z.boolean().default(false),
};

export const listenerLimitKeys = {
  /** Open connections per client address at most (0: no limit). */
  max_connections_per_ip: z.number().int().min(0).default(0),
  /** Open connections on this listener at most (0: no limit). */
  max_connections: z.number().int().min(0).default(0),
};
