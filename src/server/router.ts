import type { RouteConfig } from '../config/schema.js';
import type { Backend } from '../upstream/backend.js';
import { canonicalHost } from '../core/host.js';
import { segmentPrefix } from '../core/prefix.js';

/** A route compiled once at load: everything the request path needs, with no lookups left. */
export interface CompiledRoute {
  readonly name: string;
  readonly host: string | undefined;
  readonly prefix: string;
  readonly backend: Backend;
  readonly preserveHost: boolean;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly requestTimeout: number;
  readonly retry: RouteConfig['retries'];
  readonly auth: RouteConfig['auth'];
  readonly policy: boolean;
  /** Keep the client's Authorization upstream even when airgate verified a bearer token with it. */
  readonly forwardAuthorization: boolean;
  /** WebSocket upgrades are tunnelled on this route (after every check an ordinary request passes). */
  readonly websocket: boolean;
  /** Request bodies up to this many bytes are received whole before a server is chosen. */
  readonly requestBuffer: number;
}

/**
 * Chooses the route for a host and path. Routes naming the request's host are considered
 * before wildcard-host routes (`*.example.com`, longest suffix first), which come before
 * host-less ones; within each group the longest path prefix wins. A prefix matches whole
 * segments: `/api` matches `/api` and `/api/v1` but not `/apis`.
 */
export class Router {
  private readonly byHost = new Map<string, CompiledRoute[]>();
  private readonly wildcards: { suffix: string; routes: CompiledRoute[] }[] = [];
  private readonly anyHost: CompiledRoute[] = [];

  constructor(routes: readonly RouteConfig[], backends: ReadonlyMap<string, Backend>) {
    const wild = new Map<string, CompiledRoute[]>();
    for (const r of routes) {
      const compiled: CompiledRoute = Object.freeze({
        name: r.name ?? `${r.host ?? '*'}${r.path}`,
        host: r.host,
        prefix: r.path,
        backend: backendOf(backends, r.backend),
        preserveHost: r.preserve_host,
        headersTimeout: r.timeouts.response_headers,
        bodyTimeout: r.timeouts.body_idle,
        requestTimeout: r.timeouts.request,
        retry: r.retries,
        auth: r.auth,
        policy: r.policy,
        websocket: r.websocket,
        forwardAuthorization: r.forward_authorization,
        requestBuffer: r.request_buffer,
      });
      if (!r.host) this.anyHost.push(compiled);
      else if (r.host.startsWith('*.')) push(wild, r.host.slice(1), compiled);
      else push(this.byHost, r.host, compiled);
    }
    const byLength = (a: CompiledRoute, b: CompiledRoute) => b.prefix.length - a.prefix.length;
    for (const list of this.byHost.values()) list.sort(byLength);
    for (const [suffix, list] of wild) this.wildcards.push({ suffix, routes: list.sort(byLength) });
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.anyHost.sort(byLength);
  }

  /** Every compiled route (status pages, tests). */
  all(): CompiledRoute[] {
    return [...this.anyHost, ...this.wildcards.flatMap((w) => w.routes), ...[...this.byHost.values()].flat()];
  }

  /** `hostHeader` as sent or canonical (any case, port and trailing dot ignored); `url` the request target (may carry a query). */
  match(hostHeader: string | undefined, url: string): CompiledRoute | undefined {
    const q = url.indexOf('?');
    const pathEnd = q < 0 ? url.length : q;
    if (hostHeader && (this.byHost.size > 0 || this.wildcards.length > 0)) {
      const host = canonicalHost(hostHeader);
      const exact = this.byHost.get(host);
      if (exact) {
        const r = first(exact, url, pathEnd);
        if (r) return r;
      }
      for (const w of this.wildcards) {
        if (host.endsWith(w.suffix) && host.length > w.suffix.length) {
          const r = first(w.routes, url, pathEnd);
          if (r) return r;
        }
      }
    }
    return first(this.anyHost, url, pathEnd);
  }
}

function first(routes: readonly CompiledRoute[], url: string, pathEnd: number): CompiledRoute | undefined {
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if (segmentPrefix(r.prefix, url, pathEnd)) return r;
  }
  return undefined;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The backend a route names (the config check made sure it exists). */
function backendOf(backends: ReadonlyMap<string, Backend>, name: string): Backend {
  const b = backends.get(name);
  if (!b) throw new Error(`no backend named ${name}`);
  return b;
}
