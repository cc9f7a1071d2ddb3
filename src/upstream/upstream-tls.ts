import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { BackendConfig } from '../config/schema.js';

/**
 * TLS options for an https:// server: verification on unless `verify: false`, an optional CA
 * bundle, SNI name and client certificate (mTLS). Files are read when the runtime is built; the
 * fingerprint lets a reload keep the pool only when nothing changed.
 */
export function upstreamTls(cfg: BackendConfig['tls']): { options: Record<string, unknown>; fingerprint: string } {
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const ca = read(cfg?.ca);
  const cert = read(cfg?.cert);
  const key = read(cfg?.key);
  const options: Record<string, unknown> = { rejectUnauthorized: cfg?.verify ?? true };
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if (cfg?.servername) options.servername = cfg.servername;
  const h = createHash('sha256');
  for (const part of [ca, cert, key]) h.update(part ?? '-');
  h.update(JSON.stringify([cfg?.servername, cfg?.verify]));
  return { options, fingerprint: h.digest('hex') };
}
