import { z } from 'zod';
import { describe, duration } from './types-helpers.js';

const certPair = z.strictObject({
  /** PEM certificate chain file (leaf first). Its SAN names decide which SNI names it serves. */
  cert: z.string().min(1),
  /** PEM private key file. */
  key: z.string().min(1),
});

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/** A sane modern default: ECDHE with AES-GCM or ChaCha20 for TLS 1.2; TLS 1.3 suites are fixed by OpenSSL. */
export const DEFAULT_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

/** A Strict-Transport-Security header's settings. */
export const hstsSchema = z.strictObject({
  max_age: duration.default(31_536_000_000),
  include_subdomains: z.boolean().default(false),
  preload: z.boolean().default(false),
});

/** RFC 8555 certificates for a TLS listener, obtained and renewed by the gateway. */
export const acmeSchema = z.strictObject({
  /** The CA's ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory. */
  directory: z
    .string()
    .url()
    .refine((u) => u.startsWith('https://'), { message: 'expected an https:// ACME directory URL' }),
  /** Account contacts: e-mail addresses (mailto: is added). */
  contact: z.array(z.string().regex(/^(mailto:)?[^@\s]+@[^@\s]+$/, { message: 'expected an e-mail address' })).default([]),
  /** DNS names on the certificate (the first is its common name). */
  domains: z
    .array(z.string().regex(/^([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$/, { message: 'expected a DNS name such as airflow.example.com (no wildcards: they need DNS-01)' }))
    .min(1, { message: 'expected at least one domain' })
    // Typed as non-empty, so the common name (the first) needs no assertion.
    .transform(([first, ...rest]): [string, ...string[]] => (first === undefined ? z.NEVER : [first, ...rest])),
  /** http-01: answered by the gateway's plain listeners on port 80; tls-alpn-01: answered on this listener (TLS 1.3). */
  challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01'),
  /** PEM CA bundle to verify the ACME server with (private ACME CAs); default: the system's. */
  ca: z.string().optional(),
  /** External Account Binding, for CAs that require it. */
  eab: z.strictObject({ kid: z.string().min(1), hmac_key: z.string().min(1) }).optional(),
  /** Directory for the account key, certificates, locks and HTTP-01 answers (shared by the workers). */
  storage: z.string().default('/var/lib/airgate/acme'),
  /** Keep that state in Redis instead, so several instances order one certificate, not one each. */
  redis: z
    .string()
    .regex(/^rediss?:\/\//, { message: 'expected a redis:// or rediss:// URL' })
    .optional(),
  /** Delay before the first retry of a failed order or renewal; doubles each time up to retry_max. */
  retry_min: duration.default(60_000),
  retry_max: duration.default(3_600_000),
});

export const listenerTlsSchema = z
  .strictObject({
    certificates: z.array(certPair).default([]),
    acme: acmeSchema.optional(),
    min_version: z.enum(TLS_VERSIONS).default('TLSv1.2'),
    ciphers: z.string().default(DEFAULT_CIPHERS),
    /** Reload certificates when their files change (SIGHUP and POST /reload always do). */
    watch: z.boolean().default(true),
    /** Strict-Transport-Security on every response of this listener; off unless given. */
    hsts: hstsSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if (t.certificates.length === 0 && !t.acme) ctx.addIssue({ code: 'custom', path: ['certificates'], message: 'expected at least one certificate, or an acme section' });
    if (t.certificates.length > 0 && t.acme) ctx.addIssue({ code: 'custom', path: ['acme'], message: 'expected either certificates or acme, not both' });
  });

/** An https:// upstream: verification on by default. */
export const upstreamTlsSchema = z.strictObject({
  /** PEM CA bundle file to verify servers with (default: the system's). */
  ca: z.string().optional(),
  /** The name to send in SNI and verify against (default: the URL's host). */
  servername: z.string().optional(),
  /** Client certificate for mTLS. */
  cert: z.string().optional(),
  key: z.string().optional(),
  verify: z.boolean().default(true),
});

/** `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`. */
export const cidr = z.unknown().transform((value, ctx): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } => {
  if (typeof value === 'string') {
    const [address = '', bits] = value.split('/');
    const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
    const v6 = !v4 && address.includes(':');
    const max = v4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if ((v4 || v6) && Number.isInteger(prefix) && prefix >= 0 && prefix <= max) return { address, prefix, family: v4 ? 'ipv4' : 'ipv6' };
  }
  ctx.addIssue({ code: 'custom', message: `expected an IP address or CIDR such as 10.0.0.0/8 or fd00::/8, found ${describe(value)}` });
  return z.NEVER;
});
