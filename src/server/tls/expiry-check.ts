import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { ListenerConfig } from '../../config/schema.js';

/** Warn when a certificate expires within this long (`airgate check`). */
export const EXPIRY_WARNING_MS = 14 * 86_400_000;

/**
 * The certificates a listener will serve, as `airgate check` can see them without starting: its
 * files, and for ACME the certificate in the storage directory (Redis-held ones are not read).
 * Returns one line per certificate and the warnings for those that expire within 14 days.
 */
export function certificateExpiry(listener: ListenerConfig, now = Date.now()): { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  const tls = listener.tls;
  if (!tls) return { lines, warnings };
  const files = tls.certificates.map((c) => c.cert);
  if (tls.acme && !tls.acme.redis) files.push(join(tls.acme.storage, `${tls.acme.domains[0].toLowerCase()}.crt`));
  for (const file of files) {
    let x: X509Certificate;
    try {
      x = new X509Certificate(readFileSync(file));
    } catch {
      if (tls.acme) lines.push(`  ${listener.name}: no ACME certificate stored yet for ${tls.acme.domains.join(', ')}; it is ordered at start`);
      continue;
    }
    const name =
      (x.subjectAltName ?? '')
        .split(',')
        .map((s) => s.trim())
        .find((s) => s.startsWith('DNS:'))
        ?.slice(4) ?? file;
    const left = Date.parse(x.validTo) - now;
    const days = Math.floor(left / 86_400_000);
    lines.push(`  ${listener.name}: ${name} (${file}) expires ${new Date(x.validTo).toISOString()}, in ${days} days`);
    if (left <= 0) warnings.push(`certificate ${name} of listener ${listener.name} (${file}) has expired`);
    else if (left < EXPIRY_WARNING_MS) warnings.push(`certificate ${name} of listener ${listener.name} (${file}) expires in ${days} days${tls.acme ? ' (ACME renews it at two thirds of its lifetime: check the log for failed renewals)' : ''}`);
  }
  if (tls.acme?.redis) lines.push(`  ${listener.name}: ACME certificate for ${tls.acme.domains.join(', ')} kept in Redis (see airgate_certificate_expiry_seconds)`);
  return { lines, warnings };
}
