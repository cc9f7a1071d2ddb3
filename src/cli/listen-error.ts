import type { AirgateConfig } from '../config/schema.js';

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not available on this machine',
};

/**
 * One line for an address `serve` could not bind, naming the listener (or the admin API) and
 * the address, e.g. `listener "public" cannot listen on 127.0.0.1:8080: the address is already
 * in use (EADDRINUSE)`; undefined for any other error.
 */
export function listenErrorMessage(err: unknown, cfg: AirgateConfig): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const reason = e?.code ? REASONS[e.code] : undefined;
  if (!reason || (e.syscall !== 'listen' && e.syscall !== 'bind')) return undefined;
  const same = (a: { host: string; port: number }) => a.port === e.port && (e.address === undefined || a.host === e.address || `[${a.host}]` === e.address || a.host.replace(/^\[|\]$/g, '') === e.address);
  const listener = cfg.listeners.find((l) => same(l.address));
  const admin = cfg.admin && same(cfg.admin.address) ? cfg.admin : undefined;
  const address = `${e.address ?? listener?.address.host ?? admin?.address.host ?? '?'}:${e.port ?? '?'}`;
  const who = listener ? `listener "${listener.name}"` : admin ? 'the admin API (admin.address)' : 'a listener';
  return `${who} cannot listen on ${address}: ${reason} (${e.code})`;
}
