import { z } from 'zod';

export const ACCESS_LOG_FIELDS = ['time', 'request_id', 'client', 'listener', 'method', 'path', 'status', 'bytes_in', 'bytes_out', 'route', 'backend', 'server', 'retries', 'read_ms', 'queue_ms', 'connect_ms', 'headers_ms', 'total_ms', 'termination', 'user', 'auth', 'policy', 'rule'] as const;

const destination = z.string().regex(/^(stdout|stderr|\/.+)$/, { message: 'expected stdout, stderr or an absolute file path' });

export const observabilityKeys = {
  access_log: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** stdout, stderr, or an absolute file path (reopened on SIGUSR1 and SIGHUP, for logrotate). */
      destination: destination.default('stdout'),
      fields: z.array(z.enum(ACCESS_LOG_FIELDS)).default([...ACCESS_LOG_FIELDS]),
      /** Share of successful (< 400) requests logged; errors are always logged. */
      sample: z.number().min(0).max(1).default(1),
      /** Query parameters whose values are replaced by `[redacted]` in logged paths. Headers and cookies are never logged. */
      redact_query: z.array(z.string()).default(['token', 'access_token', 'id_token', 'refresh_token', 'code', 'state', 'password', 'secret', 'api_key', 'session']),
    })
    .prefault({}),
  audit_log: z
    .strictObject({
      enabled: z.boolean().default(true),
      destination: destination.default('stdout'),
    })
    .prefault({}),
};
