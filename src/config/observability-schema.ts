import { z } from 'zod';
import { SYSLOG_URL } from '../observability/syslog.js';

export const ACCESS_LOG_FIELDS = [
  'time',
  'request_id',
  'client',
  'listener',
  'method',
  'path',
  'status',
  'bytes_in',
  'bytes_out',
  'route',
  'backend',
  'server',
  'retries',
  'read_ms',
  'queue_ms',
  'connect_ms',
  'headers_ms',
  'total_ms',
  'termination',
  'user',
  'auth',
  'policy',
  'rule',
  'host',
  'http_version',
  'user_agent',
  'client_port',
  'tls_version',
  'sni',
  'upstream',
] as const;

const destination = z
  .string()
  .refine((d) => /^(stdout|stderr|\/.+)$/.test(d) || SYSLOG_URL.test(d), { message: 'expected stdout, stderr, an absolute file path, syslog://HOST:PORT (UDP) or syslog+tcp://HOST:PORT, optionally with ?facility=local0…local7' });

export const observabilityKeys = {
  access_log: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** stdout, stderr, an absolute file path (reopened on SIGUSR1 and SIGHUP, for logrotate), or syslog://host:port / syslog+tcp://host:port (RFC 5424). */
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
