import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { address, duration, name, describe } from './types-helpers.js';
import { balancingKeys, routeRetryKeys, serverBalancingKeys } from './balancing-schema.js';
import { healthKeys } from './health-schema.js';
import { discoverySchema } from './discovery-schema.js';
import { cidr, hstsSchema, listenerTlsSchema, upstreamTlsSchema } from './tls-schema.js';
import { observabilityKeys } from './observability-schema.js';
import { authSchema, routeAuth } from './auth-schema.js';
import { listenerLimitKeys, policyKeys, routePolicyKeys } from './policy-schema.js';
import { upstreamKeys } from './upstream-schema.js';

const TWO_MINUTES = 120_000;

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

const listenerSchema = z.strictObject({
  name,
  address,
  timeouts: z
    .strictObject({
      /** Time allowed for the request line and headers (slowloris → 408). */
      client_header: duration.default(10_000),
      /** Idle time of a client keep-alive connection between requests. */
      keep_alive: duration.default(5_000),
      /** Longest silence while a client sends a request body (a body that stalls answers 408 or is cut). */
      client_body_idle: duration.default(30_000),
      /** Time a TLS client has to complete its handshake (a socket that never sends a ClientHello is closed). */
      tls_handshake: duration.default(10_000),
      /** An HTTP/2 connection with no open stream for this long is closed with GOAWAY. */
      http2_idle: duration.default(120_000),
    })
    .prefault({}),
  max_header_bytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  tls: listenerTlsSchema.optional(),
  /** Offer HTTP/2 through ALPN (TLS listeners only); HTTP/1.1 stays available on the same port. */
  http2: z.boolean().default(false),
  /** Answer every request with a redirect to https on this port (a plain-HTTP listener). */
  redirect_to_https: z.number().int().min(1).max(65_535).optional(),
  /** Expect a PROXY protocol v1/v2 header on every connection (accepted only from trusted_proxies). */
  proxy_protocol: z.boolean().default(false),
  /** TLS terminated in front (a load balancer in trusted_proxies says `X-Forwarded-Proto: https`): Strict-Transport-Security for those requests. */
  forwarded_hsts: hstsSchema.optional(),
  /** Drop client request headers whose names contain "_" (as nginx does): gunicorn maps X_Auth_User onto X-Auth-User. */
  drop_underscore_headers: z.boolean().default(true),
  /** Slowest accepted request body, in bytes per second, measured over each client_body_idle period (0: only the idle limit). */
  client_body_min_rate: z.number().int().min(0).default(1024),
  ...listenerLimitKeys,
});

const serverUrl = z.unknown().transform((value, ctx): URL => {
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password && !url.search && !url.hash && (url.pathname === '/' || url.pathname === '')) return url;
    } catch {
      /* reported below */
    }
  }
  ctx.addIssue({ code: 'custom', message: `expected an http:// or https:// URL with host and port only, such as http://10.0.0.5:8080, found ${describe(value)}` });
  return z.NEVER;
});

const serverSchema = z.strictObject({
  name,
  url: serverUrl,
  weight: z.number().int().min(0).max(1000).default(1),
  ...serverBalancingKeys,
});

const backendSchema = z.strictObject({
  /** Fixed servers; may be left out when `discovery` finds them. */
  servers: z.array(serverSchema).default([]),
  discovery: discoverySchema.optional(),
  ...balancingKeys,
  ...healthKeys,
  tls: upstreamTlsSchema.optional(),
  timeouts: z
    .strictObject({
      connect: duration.default(5_000),
    })
    .prefault({}),
  pool: z
    .strictObject({
      /** Upper bound of open connections to each server. */
      connections: z.number().int().min(1).max(65_536).default(256),
      /** Idle time after which a pooled upstream connection closes; below Airflow's 120 s worker timeout. */
      keep_alive: duration.refine((ms) => ms > 0 && ms < TWO_MINUTES, { message: 'expected a duration above 0 and below 120s (Airflow closes idle connections at 120s)' }).default(60_000),
    })
    .prefault({}),
});

const routeSchema = z.strictObject({
  name: name.optional(),
  host: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$|^\*\.[A-Za-z0-9.-]+$/, { message: 'expected a host name such as airflow.example.com or *.example.com' })
    .transform((h) => h.toLowerCase())
    .optional(),
  path: z.string().regex(/^\/[^\s?#]*$/, { message: 'expected a path prefix starting with "/" (no query or fragment)' }),
  backend: z.string(),
  preserve_host: z.boolean().default(true),
  auth: routeAuth,
  /** Forward the client's Authorization header to Airflow even after airgate verified a bearer token with it (off: Airflow sees only the identity airgate hands it). */
  forward_authorization: z.boolean().default(false),
  /** Tunnel WebSocket upgrades on this route (they pass authentication, policy and limits first). Other Upgrade protocols are never tunnelled. */
  websocket: z.boolean().default(true),
  /** Request bodies up to this size are received whole before a server is chosen, so slow uploads hold no Airflow worker (Airflow's allowed_payload_size is 1 MB). */
  request_buffer: z.number().int().min(0).max(67_108_864).default(1_048_576),
  ...routePolicyKeys,
  ...routeRetryKeys,
  timeouts: z
    .strictObject({
      /** Time to the upstream's response headers; may exceed 120 s for slow Airflow endpoints. */
      response_headers: duration.default(60_000),
      /** Longest silence while streaming a body either way. */
      body_idle: duration.default(300_000),
      /** Whole request, from arrival to the last response byte; 0 disables. */
      request: duration.default(0),
    })
    .prefault({}),
});

export const configSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1, { message: 'expected at least one listener' }),
    backends: z.record(name, backendSchema),
    routes: z.array(routeSchema).min(1, { message: 'expected at least one route' }),
    /** Peers whose X-Forwarded-For (and PROXY protocol header) are believed. Everyone else's are replaced. */
    trusted_proxies: z.array(cidr).default([]),
    ...observabilityKeys,
    auth: authSchema,
    ...policyKeys,
    ...upstreamKeys,
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
    /** Worker processes sharing the listeners: a number, or `auto` for one per CPU core. */
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
    admin: z
      .strictObject({
        /** The admin listener (status, server control, metrics later); keep it off the public network. */
        address,
        /** Bearer token for every admin call except /healthz; use token_file or ${VAR}. */
        token: z.string().min(16, { message: 'expected a token of at least 16 characters' }),
      })
      .optional(),
    shutdown: z
      .strictObject({
        /** How long in-flight requests may run after SIGTERM before connections are cut. */
        grace: duration.default(30_000),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.listeners.forEach((l, i) => {
      l.tls?.certificates.forEach((c, j) => {
        for (const key of ['cert', 'key'] as const) if (!readable(c[key])) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'tls', 'certificates', j, key], message: `cannot read ${c[key]}` });
      });
      if (l.http2 && !l.tls) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'http2'], message: 'http2 needs tls on the same listener (browsers speak HTTP/2 only over TLS)' });
      if (l.redirect_to_https !== undefined && l.tls) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'redirect_to_https'], message: 'redirect_to_https belongs on a plain-HTTP listener' });
      if (l.proxy_protocol && cfg.trusted_proxies.length === 0) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'proxy_protocol'], message: 'proxy_protocol needs trusted_proxies: only listed peers may send a PROXY header' });
    });
    cfg.listeners.forEach((l, i) => {
      if (seen.has(l.name)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `listener name "${l.name}" is already used by listeners[${seen.get(l.name)}]` });
      seen.set(l.name, i);
    });
    const addrs = new Map<string, number>();
    cfg.listeners.forEach((l, i) => {
      const key = `${l.address.host}:${l.address.port}`;
      if (l.address.port !== 0 && addrs.has(key)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'address'], message: `address ${key} is already used by listeners[${addrs.get(key)}]` });
      addrs.set(key, i);
    });
    for (const [bname, backend] of Object.entries(cfg.backends)) {
      for (const key of ['ca', 'cert', 'key'] as const) {
        const file = backend.tls?.[key];
        if (file && !readable(file)) ctx.addIssue({ code: 'custom', path: ['backends', bname, 'tls', key], message: `cannot read ${file}` });
      }
      if (!backend.tls?.cert !== !backend.tls?.key) ctx.addIssue({ code: 'custom', path: ['backends', bname, 'tls'], message: 'a client certificate needs both cert and key' });
      if (backend.balance === 'hash' && !backend.hash) ctx.addIssue({ code: 'custom', path: ['backends', bname, 'balance'], message: 'balance: hash needs a hash: { key: ... } section' });
      if (backend.servers.length === 0 && !backend.discovery) ctx.addIssue({ code: 'custom', path: ['backends', bname, 'servers'], message: 'expected at least one server (or a discovery section that finds them)' });
      const names = new Set<string>();
      backend.servers.forEach((s, i) => {
        if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['backends', bname, 'servers', i, 'name'], message: `server name "${s.name}" appears twice in backend "${bname}"` });
        names.add(s.name);
      });
    }
    const routeKeys = new Map<string, number>();
    cfg.routes.forEach((r, i) => {
      if (r.auth === 'sso' && !(cfg.auth?.oidc && cfg.auth.session)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'auth'], message: 'auth: sso needs auth.oidc and auth.session' });
      if (r.auth === 'bearer' && !cfg.auth?.bearer.length) ctx.addIssue({ code: 'custom', path: ['routes', i, 'auth'], message: 'auth: bearer needs at least one auth.bearer issuer' });
      if (!(r.backend in cfg.backends)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'backend'], message: `expected the name of a backend (${Object.keys(cfg.backends).join(', ') || 'none defined'}), found "${r.backend}"`, params: { candidates: Object.keys(cfg.backends) } });
      }
      const key = `${r.host ?? '*'} ${r.path}`;
      if (routeKeys.has(key)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'path'], message: `route for host ${r.host ?? '(any)'} and path ${r.path} duplicates routes[${routeKeys.get(key)}]` });
      routeKeys.set(key, i);
    });
  })
  // Each backend's pool settings carry the client, so a reload that switches it rebuilds the pools.
  .transform((cfg) => ({ ...cfg, backends: Object.fromEntries(Object.entries(cfg.backends).map(([n, b]) => [n, { ...b, pool: { ...b.pool, client: cfg.upstream.client } }])) }));

export type AirgateConfig = z.output<typeof configSchema>;
export type ListenerConfig = AirgateConfig['listeners'][number];
export type BackendConfig = AirgateConfig['backends'][string];
export type ServerConfig = BackendConfig['servers'][number];
export type RouteConfig = AirgateConfig['routes'][number];
export type RetryCondition = BackendConfig['retries']['on'][number];
