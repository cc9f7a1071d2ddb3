import { z } from 'zod';
import { duration } from './types-helpers.js';
import { percent } from './balancing-schema.js';

/** Active health checks of a backend's servers (HAProxy's `check inter/fastinter/downinter rise fall`). */
export const healthSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** The check path; defaults from `airflow:` (2 → /health, 3 → /api/v2/monitor/health). */
    path: z
      .string()
      .regex(/^\/[^\s#]*$/, { message: 'expected a path starting with "/"' })
      .optional(),
    interval: duration.default(2_000),
    /** Interval while a state change is being confirmed (between the first and the rise/fall-th result). */
    fastinter: duration.optional(),
    /** Interval while the server is down. */
    downinter: duration.optional(),
    timeout: duration.default(1_000),
    rise: z.number().int().min(1).max(100).default(2),
    fall: z.number().int().min(1).max(100).default(3),
    jitter: percent.default(0.1),
    /** A check answered slower than this marks the server degraded (still in rotation). */
    slow_threshold: duration.optional(),
    /** Generic mode for non-Airflow backends (or `airflow: none`): what a passing answer looks like. */
    expect: z
      .strictObject({
        status: z.array(z.number().int().min(100).max(599)).default([200]),
        body: z
          .string()
          .refine(
            (s) => {
              try {
                new RegExp(s);
                return true;
              } catch {
                return false;
              }
            },
            { message: 'expected a valid regular expression' },
          )
          .optional(),
        /** Dotted JSON paths and the values they must hold, e.g. `{ "status": "ok" }`. */
        json: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
      })
      .optional(),
  })
  .prefault({});

export const healthKeys = {
  /** Which Airflow the servers run: chooses the health path and reads its JSON body. `none`: a generic HTTP check. */
  airflow: z.union([z.literal(2), z.literal(3), z.literal('none')]).default(2),
  health: healthSchema,
  /** How long sticky sessions may keep using a draining server. */
  drain_grace: duration.default(300_000),
};
