import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from './types-helpers.js';

export const AIRFLOW_ROLES = ['Admin', 'Op', 'User', 'Viewer', 'Public'] as const;

/** A secret of at least 32 characters (use ${file:...} or ${env:...} to keep it out of the file). */
function secret32(what: string) {
  return z.string().min(32, { message: `expected a ${what} of at least 32 characters` });
}

/** A JWKS file: readable JSON with a `keys` list of public keys (no private parts). */
const jwksFile = z.string().superRefine((file, ctx) => {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return void ctx.addIssue({ code: 'custom', message: `expected a readable JWKS file (JSON {"keys": [...]}): ${(err as Error).message}` });
  }
  const keys = (data as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null && typeof (k as { kid?: unknown }).kid === 'string'))
    return void ctx.addIssue({ code: 'custom', message: `expected ${file} to hold {"keys": [...]} with a kid on every key` });
  if (keys.some((k) => 'd' in (k as object))) ctx.addIssue({ code: 'custom', message: `${file} holds a private key ("d"): publish only public keys` });
});

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'expected a header name of letters, digits and "-"' });

/** One role rule: the first rule whose conditions all hold gives the role. */
const roleRule = z.strictObject({
  role: z.enum(AIRFLOW_ROLES),
  groups: z.array(z.string()).optional(),
  email_domains: z.array(z.string()).optional(),
  users: z.array(z.string()).optional(),
  claim: z.strictObject({ name: z.string(), values: z.array(z.union([z.string(), z.number(), z.boolean()])) }).optional(),
});

/**
 * Airflow 3 tokens. `preset: airgate-auth-manager` (default) fits airgate's own auth manager;
 * `preset: simple-auth-manager` fits Airflow's SimpleAuthManager (role in upper case). Keys given
 * override the preset.
 */
const airflow3TokenSchema = z
  .strictObject({
    preset: z.enum(['airgate-auth-manager', 'simple-auth-manager']).default('airgate-auth-manager'),
    /** `aud`: Airflow's `[api_auth] jwt_audience` (default `apache-airflow`). */
    audience: z.string().min(1).optional(),
    /** `iss`: what Airflow's `[api_auth] jwt_issuer` (or AIRGATE_ISSUER) expects (default `airgate`). */
    issuer: z.string().min(1).optional(),
    /** `role` as configured in auth.roles (`Admin`) or in upper case (`ADMIN`, SimpleAuthManager's spelling). */
    role_case: z.enum(['as-configured', 'upper']).optional(),
    /** Which identity value is `sub`: the user name (default), the IdP's `sub`, or the e-mail address. */
    subject: z.enum(['user', 'sub', 'email']).optional(),
    /** Token lifetime; a token is reused per session until a fifth of it is left. */
    ttl: duration.refine((ms) => ms >= 30_000 && ms <= 3_600_000, { message: 'expected a ttl between 30s and 1h (a few minutes is right)' }).default(300_000),
  })
  .prefault({});

export const authSchema = z
  .strictObject({
    oidc: z
      .strictObject({
        /** The IdP's issuer URL; its discovery document is read at start. */
        issuer: z.string().url(),
        client_id: z.string().min(1),
        client_secret: z.string().min(1).optional(),
        scopes: z.array(z.string()).default(['openid', 'profile', 'email']),
        username_claim: z.string().default('preferred_username'),
        groups_claim: z.string().default('groups'),
        /** Allow an http:// issuer (development IdPs only). */
        allow_insecure_issuer: z.boolean().default(false),
        /** Refresh tokens this long before the access token expires. */
        refresh_before: duration.default(60_000),
      })
      .optional(),
    session: z
      .strictObject({
        /** Encryption keys (≥ 32 characters): the first encrypts, all decrypt, so keys rotate without logging anyone out. */
        keys: z.array(secret32('session key')).min(1).optional(),
        /** Scheduled keys instead of `keys`: one master secret, a key per period derived from it. */
        rotation: z
          .strictObject({
            secret: secret32('master secret'),
            period: duration.default(86_400_000),
            /** How many earlier periods' keys still open cookies. */
            previous: z.number().int().min(1).max(30).default(1),
          })
          .optional(),
        cookie: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('airgate_session'),
        max_age: duration.default(43_200_000),
        idle_timeout: duration.default(3_600_000),
        /** Where tokens (refresh, id token) live: in the server's memory, keyed by session id. The cookie always carries only the identity. */
        store: z.enum(['memory']).default('memory'),
        /** Without Redis (store: memory): sessions end when the gateway restarts, so a logout is never forgotten. false keeps sessions across restarts and instances at the price of forgetting logouts. */
        forget_on_restart: z.boolean().default(true),
      })
      .superRefine((s, ctx) => {
        if (!s.keys === !s.rotation) ctx.addIssue({ code: 'custom', path: [s.keys ? 'rotation' : 'keys'], message: s.keys ? 'expected either keys or rotation, not both' : 'expected keys (a static key ring) or rotation (a master secret)' });
        // A live cookie is re-sealed within idle_timeout, so a ring covering idle_timeout never drops a session that has not idled out.
        if (s.rotation && s.rotation.period * s.rotation.previous < s.idle_timeout)
          ctx.addIssue({
            code: 'custom',
            path: ['rotation', 'period'],
            message: `expected period × previous (${s.rotation.period / 1000} s × ${s.rotation.previous}) of at least idle_timeout (${s.idle_timeout / 1000} s), else live sessions would be refused at a key change`,
          });
      })
      // Normalized to a tagged union: a static key ring or scheduled keys, never both or neither.
      .transform(({ keys, rotation, ...rest }) => (rotation ? { ...rest, keys: undefined, rotation } : keys ? { ...rest, keys, rotation: undefined } : z.NEVER))
      .optional(),
    /** Issuers whose bearer JWTs are accepted (service accounts, client credentials). */
    bearer: z
      .array(
        z.strictObject({
          issuer: z.string().min(1),
          jwks_url: z.string().url(),
          audiences: z.array(z.string()).min(1),
          username_claim: z.string().default('sub'),
          groups_claim: z.string().default('groups'),
          /** Accepted JWT `typ` header values (lower case); a token without `typ` is accepted unless it carries ID-token claims (nonce, at_hash, c_hash). */
          token_types: z.array(z.string().transform((t) => t.toLowerCase())).default(['at+jwt', 'application/at+jwt', 'jwt']),
        }),
      )
      .default([]),
    roles: z.array(roleRule).default([]),
    default_role: z.enum(AIRFLOW_ROLES).default('Public'),
    /** Identity headers sent to Airflow; client-sent copies are always removed. */
    headers: z
      .strictObject({
        user: headerName.default('X-Auth-User'),
        email: headerName.default('X-Auth-Email'),
        roles: headerName.default('X-Auth-Roles'),
        groups: headerName.default('X-Auth-Groups'),
      })
      .prefault({}),
    assertion: z
      .strictObject({
        header: headerName.default('X-Airgate-Assertion'),
        /** PKCS#8 PEM files of EC P-256 keys: the first signs, all are published at /_airgate/jwks.json. Without any, a key is generated at start (one instance only). */
        keys: z.array(z.string()).default([]),
        /** Scheduled signing keys derived from a shared secret, instead of `keys`: each signs for one period, published `lead_time` before. */
        rotation: z
          .strictObject({
            secret: secret32('signing secret'),
            period: duration.default(86_400_000),
            /** Above Airflow 3's one-hour JWKS cache, with room for a slow refresh. */
            lead_time: duration.default(4_200_000),
          })
          .optional(),
        ttl: duration.default(60_000),
        issuer: z.string().default('airgate'),
        /** JWKS files (`{"keys": [...]}`) whose public keys /_airgate/jwks.json serves beside airgate's own: Airflow 3's own key for the config-only SimpleAuthManager path. */
        extra_jwks: z.array(jwksFile).default([]),
      })
      .superRefine((a, ctx) => {
        if (a.rotation && a.keys.length) ctx.addIssue({ code: 'custom', path: ['rotation'], message: 'expected either keys or rotation, not both' });
        if (a.rotation && a.rotation.period <= a.ttl) ctx.addIssue({ code: 'custom', path: ['rotation', 'period'], message: `expected a period longer than the assertion ttl (${a.ttl / 1000} s)` });
      })
      .prefault({}),
    /** The token airgate mints for `airflow: 3` backends (sent as `Authorization: Bearer`); every key has a default. */
    airflow3_token: airflow3TokenSchema,
  })
  .optional();

/** How a route authenticates: `sso` (browser session or bearer JWT), `bearer` only, `passthrough` (Airflow's own auth, untouched), or `none`. */
export const routeAuth = z.enum(['sso', 'bearer', 'passthrough', 'none']).default('none');
