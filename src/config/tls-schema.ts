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

export const listenerTlsSchema = z.strictObject({
  certificates: z.array(certPair).min(1, { message: 'expected at least one certificate' }),
  min_version: z.enum(TLS_VERSIONS).default('TLSv1.2'),
  ciphers: z.string().default(DEFAULT_CIPHERS),
  /** Reload certificates when their files change (SIGHUP and POST /reload always do). */
  watch: z.boolean().default(true),
  /** Strict-Transport-Security on every response of this listener; off unless given. */
  hsts: hstsSchema.optional(),
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
    const [address, bits] = value.split('/');
    const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address ?? '');
    const v6 = !v4 && (address ?? '').includes(':');
    const max = v4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if ((v4 || v6) && Number.isInteger(prefix) && prefix >= 0 && prefix <= max) return { address: address!, prefix, family: v4 ? 'ipv4' : 'ipv6' };
  }
  ctx.addIssue({ code: 'custom', message: `expected an IP address or CIDR such as 10.0.0.0/8 or fd00::/8, found ${describe(value)}` });
  return z.NEVER;
});
