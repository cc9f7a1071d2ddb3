import type { IncomingMessage } from 'node:http';
import { cookieValue } from '../upstream/sticky.js';

/** The first value of a header (lower-case name) from the raw headers, without building `req.headers`. */
export function rawHeader(req: IncomingMessage, lname: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === lname.length && n.toLowerCase() === lname) return raw[i + 1];
  }
  return undefined;
}

export interface HashKeySource {
  from: 'cookie' | 'header' | 'client-ip' | 'user';
  name: string;
}

/**
 * The consistent-hashing key of a request. `user` is the user airgate verified (routes with
 * `auth: sso | bearer`); without one it falls back to the client address. A missing cookie or
 * header gives no key, and the backend then balances by load.
 */
export function hashKeyOf(req: IncomingMessage, source: HashKeySource, clientAddress: string, user: string | undefined): string | undefined {
  switch (source.from) {
    case 'header':
      return rawHeader(req, source.name);
    case 'cookie': {
      const cookies = rawHeader(req, 'cookie');
      return cookies ? cookieValue(cookies, `${source.name}=`) : undefined;
    }
    case 'user':
      return user ?? clientAddress;
    case 'client-ip':
      return clientAddress;
  }
}
