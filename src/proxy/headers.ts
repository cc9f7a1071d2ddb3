import type { IncomingMessage } from 'node:http';

/**
 * Headers never forwarded in either direction (RFC 9110 §7.6.1, RFC 9112): connection-level
 * fields, plus `expect` which the listener answers itself.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'expect']);
/** Request headers the gateway sets itself; client copies are dropped. */
const GATEWAY_SET = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-request-id', 'host', 'x-forwarded-for']);

/** Lower-cased tokens listed in a Connection header value (`close, X-Foo` → [`close`, `x-foo`]). */
function connectionTokens(value: string, into: Set<string>): void {
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token) into.add(token);
  }
}

function isDropped(lname: string, named: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(lname) || lname.startsWith('proxy-') || (named !== undefined && named.has(lname));
}

export interface ForwardFacts {
  requestId: string;
  /** The real client (after trusted proxies); what logs, limits and policy see. */
  clientAddress: string;
  /** The address that connected (or the PROXY header's source). */
  peer: string;
  /** Whether the peer is a trusted proxy whose X-Forwarded-For is kept and appended to. */
  trustXff: boolean;
  /** Strict-Transport-Security value to add to responses (TLS listeners with hsts). */
  hsts: string | undefined;
  /** The client speaks HTTP/2 (no status text, no connection-specific headers). */
  http2: boolean;
  /** Identity headers airgate sets; any client-sent copy is removed (lower-case names). */
  strip: ReadonlySet<string>;
  /** airgate's own cookies, removed from the Cookie header sent to Airflow (`name=` prefixes). */
  ownCookies: readonly string[];
  /** Headers to add (the verified identity and its signed assertion), flat `[name, value, …]`. */
  identity: string[] | undefined;
  /** A Set-Cookie for the client (a renewed session). */
  setCookie: string | undefined;
  /** Login protection, when this request is a login attempt (user-name lockouts are checked once the form is read). */
  loginGuard?: { lockedFor(keys: readonly string[], now: number): number } | undefined;
  proto: 'http' | 'https';
  port: string;
  /** The Host to send upstream when the route does not preserve the client's. */
  upstreamHost: string | undefined;
  /** Keep `Upgrade` and `Connection: upgrade` (tunnels only). */
  upgrading: boolean;
}

/**
 * Build the upstream request's header list (flat `[name, value, …]`, as undici takes it) from
 * the client's raw headers in one pass: hop-by-hop fields removed, X-Forwarded-For appended,
 * X-Forwarded-Proto/Host/Port and X-Request-Id set, everything else (Referer, Origin, cookies,
 * Authorization) passed untouched and in order.
 */
export function upstreamRequestHeaders(req: IncomingMessage, f: ForwardFacts): string[] {
  const raw = req.rawHeaders;
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') connectionTokens(raw[i + 1]!, (named ??= new Set()));
  }
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers: only :authority matters, as the Host.
      if (name === ':authority') host ??= raw[i + 1];
      continue;
    }
    const lname = name.toLowerCase();
    if (f.strip.has(lname)) continue;
    if (lname === 'cookie' && raw[i + 1]!.includes('airgate')) {
      const kept = withoutOwnCookies(raw[i + 1]!, f.ownCookies);
      if (kept) out.push(name, kept);
      continue;
    }
    if (GATEWAY_SET.has(lname)) {
      if (lname === 'x-forwarded-for') {
        if (f.trustXff) xff = xff === undefined ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
      } else if (lname === 'host') host ??= raw[i + 1];
      continue;
    }
    if (isDropped(lname, named) && !(f.upgrading && lname === 'upgrade')) continue;
    out.push(name, raw[i + 1]!);
  }
  const sendHost = f.upstreamHost ?? host;
  if (sendHost !== undefined) out.push('host', sendHost);
  out.push('x-forwarded-for', xff === undefined ? f.peer : `${xff}, ${f.peer}`);
  out.push('x-forwarded-proto', f.proto, 'x-forwarded-port', f.port, 'x-request-id', f.requestId);
  if (host !== undefined) out.push('x-forwarded-host', host);
  if (f.identity) for (let i = 0; i < f.identity.length; i++) out.push(f.identity[i]!);
  return out;
}

/** A Cookie header without airgate's own cookies (they never reach Airflow). */
function withoutOwnCookies(header: string, own: readonly string[]): string {
  return header
    .split(';')
    .filter((part) => {
      const p = part.trim();
      return !own.some((prefix) => p.startsWith(prefix));
    })
    .join(';')
    .trim();
}

/**
 * Build the client response's header list from undici's raw response headers: hop-by-hop
 * fields and the fields named by Connection removed, values kept byte for byte (latin1).
 */
export function clientResponseHeaders(raw: readonly Buffer[], requestId: string, keepUpgrade: boolean): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toString('latin1').toLowerCase() === 'connection') connectionTokens(raw[i + 1]!.toString('latin1'), (named ??= new Set()));
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lname = name.toLowerCase();
    if (lname === 'x-request-id') continue;
    if (keepUpgrade ? lname !== 'upgrade' && lname !== 'connection' && isDropped(lname, named) : isDropped(lname, named)) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  out.push('x-request-id', requestId);
  return out;
}

/** Raw trailer buffers → the object `res.addTrailers` takes. */
export function trailersObject(raw: readonly (Buffer | string)[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) out[raw[i]!.toString()] = raw[i + 1]!.toString();
  return out;
}
