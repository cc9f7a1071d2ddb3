import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalHost } from '../core/host.js';
import type { RequestRecord } from '../observability/request-record.js';
import { normalizePath } from '../policy/normalize.js';
import type { Runtime } from '../server/runtime.js';
import { entryContext } from './stage-context.js';
import { Refusal, type ListenerFacts, type RequestContext, type TunnelSocket } from './context.js';

/** What an entry point (HTTP/1 request, Upgrade, HTTP/2 stream) hands the pipeline. */
export interface Arrival {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: RequestRecord;
  readonly runtime: Runtime;
  readonly listener: ListenerFacts;
  readonly id: string;
  readonly peer: string;
  readonly tunnel: TunnelSocket | undefined;
  /** The request carried `Connection: upgrade` (tunnelled only when it is a WebSocket). */
  readonly upgrade: boolean;
  readonly facts: HeaderFacts;
}

/** What one pass over the raw headers found (read at entry; nothing scans them again for these). */
export interface HeaderFacts {
  host: string | undefined;
  hosts: number;
  requestId: string | undefined;
  /** Every X-Forwarded-For line, joined with ", " in order. */
  xff: string | undefined;
  userAgent: string | undefined;
  /** The first X-Forwarded-Proto value (believed only from a trusted proxy). */
  xfp: string | undefined;
  bodied: boolean;
}

export function scanHeaders(req: IncomingMessage): HeaderFacts {
  const raw = req.rawHeaders;
  const f: HeaderFacts = { host: undefined, hosts: 0, requestId: undefined, xff: undefined, xfp: undefined, userAgent: undefined, bodied: false };
  let authority: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    switch (n.length) {
      case 4:
        if (n.toLowerCase() === 'host') {
          f.hosts++;
          f.host ??= raw[i + 1];
        }
        break;
      case 10:
        if (n === ':authority') authority = raw[i + 1];
        else if (f.userAgent === undefined && n.toLowerCase() === 'user-agent') f.userAgent = raw[i + 1];
        break;
      case 12:
        if (f.requestId === undefined && n.toLowerCase() === 'x-request-id') f.requestId = raw[i + 1];
        break;
      case 14:
        if (n.toLowerCase() === 'content-length') f.bodied = raw[i + 1] !== '0';
        break;
      case 15:
        if (n.toLowerCase() === 'x-forwarded-for') f.xff = f.xff === undefined ? raw[i + 1] : `${f.xff}, ${raw[i + 1]}`;
        break;
      case 17: {
        const l = n.toLowerCase();
        if (l === 'transfer-encoding') f.bodied = true;
        else if (l === 'x-forwarded-proto') f.xfp ??= raw[i + 1];
        break;
      }
    }
  }
  if (authority !== undefined) {
    if (f.host !== undefined && f.host !== authority) f.hosts++;
    else if (f.host === undefined) f.hosts = 1;
    f.host = authority;
  }
  // HTTP/2: a request without a body ends its stream with the headers.
  const stream = (req as { stream?: { endAfterHeaders?: boolean } }).stream;
  if (stream !== undefined) f.bodied = stream.endAfterHeaders !== true;
  return f;
}

/** `X-Forwarded-Proto: https` (the first hop's value when a proxy sent a list). */
function forwardedHttps(xfp: string | undefined): boolean {
  if (xfp === undefined) return false;
  const comma = xfp.indexOf(',');
  return (comma < 0 ? xfp : xfp.slice(0, comma)).trim().toLowerCase() === 'https';
}

/** `listeners[].forwarded_hsts` as a header value, computed once per listener and configuration. */
const forwardedHstsCache = new WeakMap<ListenerFacts, string | null>();
function forwardedHsts(runtime: Runtime, listener: ListenerFacts): string | undefined {
  let v = forwardedHstsCache.get(listener);
  if (v === undefined) {
    const h = runtime.config.listeners.find((l) => l.name === listener.name)?.forwarded_hsts;
    v = h ? `max-age=${Math.floor(h.max_age / 1000)}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}` : null;
    forwardedHstsCache.set(listener, v);
  }
  return v ?? undefined;
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]+)(\/[^#]*)?$/i;

/**
 * The first filter: the one canonical form of everything later filters match on. Refuses what
 * cannot be judged safely: a target that is not a path (or absolute-form URL), a fragment,
 * undecodable or ambiguous escapes, a missing or repeated Host, an absolute-form authority that
 * disagrees with Host, an HTTP version other than 1.x on an HTTP/1 connection.
 */
export function normalize(a: Arrival): RequestContext | Refusal {
  const { req, facts } = a;
  const http2 = (req as { stream?: unknown }).stream !== undefined;
  if (!http2 && req.httpVersionMajor !== 1) return new Refusal('AIRGATE_ERR_HTTP_VERSION');
  if (facts.hosts > 1) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'The request has more than one Host.' });
  const url = req.url ?? '';
  let target = url;
  let absoluteHost: string | undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const m = ABSOLUTE_FORM.exec(url);
    if (!m) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: url.includes('#') ? 'The request target has a fragment (#).' : 'The request target must be a path.' });
    absoluteHost = m[1]!;
    if (facts.host !== undefined && canonicalHost(facts.host) !== canonicalHost(absoluteHost)) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'Host disagrees with the absolute-form request target.' });
    target = m[2] ?? '/';
  }
  const hostHeader = absoluteHost ?? facts.host;
  if (hostHeader === undefined && req.httpVersionMinor === 1 && !http2) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'HTTP/1.1 requests need a Host header.' });
  const norm = normalizePath(target);
  if (!norm.ok) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: `The path cannot be judged safely: ${norm.reason}.` });
  if (a.tunnel !== undefined && req.method !== 'GET') return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'A WebSocket upgrade must be a GET.' });
  if (a.upgrade && a.tunnel === undefined && facts.bodied) return new Refusal('AIRGATE_ERR_BAD_REQUEST', { detail: 'Only WebSocket upgrades are supported; other Upgrade requests may not carry a body.' });
  const trusted = a.runtime.trusted;
  const trustXff = trusted.trusts(a.peer);
  const client = trustXff && facts.xff ? trusted.clientFrom(facts.xff, a.peer) : a.peer;
  a.record.client = client;
  const proto = a.listener.proto === 'https' || (trustXff && forwardedHttps(facts.xfp)) ? 'https' : 'http';
  return entryContext({
    req,
    res: a.res,
    record: a.record,
    runtime: a.runtime,
    listener: a.listener,
    id: a.id,
    method: req.method ?? 'GET',
    hostHeader,
    host: canonicalHost(hostHeader),
    absoluteHost,
    target: norm.path + norm.query,
    path: norm.path,
    query: norm.query,
    peer: a.peer,
    client,
    trustXff,
    proto,
    hsts: a.listener.hsts ?? (proto === 'https' ? forwardedHsts(a.runtime, a.listener) : undefined),
    http2,
    tunnel: a.tunnel,
    bodied: facts.bodied,
  });
}
