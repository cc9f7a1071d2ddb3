import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const kClient = Symbol('airgate.clientAddress');
type TaggedSocket = Socket & { [kClient]?: string };

/** The client's address as logs and X-Forwarded-For show it (IPv4-mapped IPv6 unwrapped), cached per connection. */
export function clientAddress(req: IncomingMessage): string {
  const socket = req.socket as TaggedSocket;
  let addr = socket[kClient];
  if (addr === undefined) {
    addr = socket.remoteAddress ?? '';
    if (addr.startsWith('::ffff:')) addr = addr.slice(7);
    socket[kClient] = addr;
  }
  return addr;
}

/** Host and X-Request-Id read from the raw headers in one pass, without building `req.headers`. */
export function hostAndRequestId(req: IncomingMessage): { host: string | undefined; requestId: string | undefined } {
  const raw = req.rawHeaders;
  let host: string | undefined;
  let requestId: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 4 && host === undefined && n.toLowerCase() === 'host') host = raw[i + 1];
    else if (n === ':authority') host ??= raw[i + 1];
    else if (n.length === 12 && requestId === undefined && n.toLowerCase() === 'x-request-id') requestId = raw[i + 1];
  }
  return { host, requestId };
}

/**
 * The origin-form target (`/path?query`) of a request target: absolute-form
 * (`http://host/path`) is reduced to its path; anything else that is not origin-form
 * (`*`, authority-form) yields undefined and is refused.
 */
export function originForm(target: string): string | undefined {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const m = ABSOLUTE_FORM.exec(target);
  if (!m) return undefined;
  return (m[2] ?? '/') + (m[3] ?? '');
}

/** The authority of an absolute-form target, which replaces Host (RFC 9112 §3.2.2). */
export function absoluteFormHost(target: string): string | undefined {
  return ABSOLUTE_FORM.exec(target)?.[1];
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]+)(\/[^#]*)?(\?[^#]*)?$/i;
