import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/** A duration written as `500ms`, `2s`, `5m`, `12h`; parsed to milliseconds. Bare numbers are refused as ambiguous. */
export const duration = z.unknown().transform((value, ctx): number => {
  if (typeof value === 'string') {
    const ms = parseDuration(value);
    if (ms !== undefined) return ms;
  }
  ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 2s or 5m, found ${describe(value)}` });
  return z.NEVER;
});

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const name = z.string().regex(NAME_RE, { message: 'expected a name of letters, digits, ".", "_" or "-" (at most 63, starting with a letter or digit)' });

/** `host:port`, `[v6]:port` or `:port` (all interfaces). */
export const address = z.unknown().transform((value, ctx): { host: string; port: number } => {
  if (typeof value === 'string') {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(value);
    if (m) {
      const port = Number(m[3]);
      if (port <= 65535) return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
    }
  }
  ctx.addIssue({ code: 'custom', message: `expected an address such as 127.0.0.1:8080, [::1]:8080 or :8080, found ${describe(value)}` });
  return z.NEVER;
});

/** Describe a found value for an error message: `string "abc"`, `number 3`, `a list`, `nothing`. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)}`;
  return `${typeof value} ${String(value)}`;
}
