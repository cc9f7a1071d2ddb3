import type { RawFields } from '../upstream/lean/pending.js';
/**
 * Headers never forwarded in either direction (RFC 9110 §7.6.1, RFC 9112): connection-level
 * fields, plus `expect` which the listener answers itself.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'expect']);
/** Request headers the gateway sets itself; client copies are dropped. */
const GATEWAY_SET = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-request-id', 'host', 'x-forwarded-for']);
/**
 * Forwarding headers the gateway does not set, which Airflow or its server would believe
 * (ProxyFix trusts X-Forwarded-Prefix and builds redirects from it; uvicorn and others read
 * Forwarded and X-Real-IP): removed from every client request.
 */
const FORWARDING = new Set([
  'forwarded',
  'x-real-ip',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-forwarded-uri',
  'x-original-url',
  'x-rewrite-url',
  'x-original-forwarded-for',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
]);

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

/** What header hygiene needs from the configuration, built once per runtime. */
export interface HeaderRules {
  /** Identity header names airgate sets (lower case, `_` read as `-`); any client copy is removed. */
  readonly strip: ReadonlySet<string>;
  /** Matches a Cookie header that holds one of airgate's own cookies (session, login, sticky). */
  readonly ownCookie: RegExp;
  /** airgate's own cookie names with `=`. */
  readonly ownCookies: readonly string[];
}

export function headerRules(identityNames: readonly string[], ownCookieNames: readonly string[]): HeaderRules {
  const escaped = ownCookieNames.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return {
    strip: new Set(identityNames.map((n) => n.toLowerCase().replace(/_/g, '-'))),
    ownCookie: new RegExp(`(?:^|[;\\s])(?:${escaped.join('|')})=`),
    ownCookies: ownCookieNames.map((n) => `${n}=`),
  };
}

/** The request facts the upstream header list is built from. */
export interface ForwardFacts {
  readonly requestId: string;
  /** The address that connected (or the PROXY header's source). */
  readonly peer: string;
  /** Whether the peer is a trusted proxy whose X-Forwarded-For is kept and appended to. */
  readonly trustXff: boolean;
  readonly proto: 'http' | 'https';
  readonly port: string;
  /** The Host to send upstream instead of the client's (absolute-form targets), if any. */
  readonly upstreamHost: string | undefined;
  /** Keep `Upgrade` and `Connection: upgrade` (WebSocket tunnels only). */
  readonly upgrading: boolean;
  readonly dropUnderscore: boolean;
  /** Remove the client's Authorization (airgate verified the bearer token in it and hands Airflow the identity instead). */
  readonly dropAuthorization: boolean;
  /** Headers to add (the verified identity and its signed assertion), flat `[name, value, …]`. */
  readonly identity: readonly string[] | undefined;
}

/**
 * Build the upstream request's header list (flat `[name, value, …]`, as undici takes it) from
 * the client's raw headers in one pass: hop-by-hop fields, names with `_` (unless allowed),
 * client copies of identity and forwarding headers and airgate's own cookies removed;
 * X-Forwarded-For appended, X-Forwarded-Proto/Host/Port and X-Request-Id set; everything else
 * (Referer, Origin, Airflow's cookies, Authorization) passed untouched and in order.
 */
export function upstreamRequestHeaders(raw: readonly string[], f: ForwardFacts, rules: HeaderRules): string[] {
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
    let lname = name.toLowerCase();
    if (lname.includes('_')) {
      if (f.dropUnderscore) continue;
      lname = lname.replace(/_/g, '-');
    }
    if (rules.strip.has(lname) || FORWARDING.has(lname) || (f.dropAuthorization && lname === 'authorization')) continue;
    if (lname === 'cookie' && rules.ownCookie.test(raw[i + 1]!)) {
      const kept = withoutOwnCookies(raw[i + 1]!, rules.ownCookies);
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
    .map((p) => p.trim())
    .join('; ');
}

/**
 * Build the client response's header list from undici's raw response headers: hop-by-hop
 * fields and the fields named by Connection removed, values kept byte for byte (latin1).
 */
export function clientResponseHeaders(raw: RawFields, requestId: string, keepUpgrade: boolean): string[] {
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
export function trailersObject(raw: RawFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) out[raw[i]!.toString()] = raw[i + 1]!.toString();
  return out;
}
