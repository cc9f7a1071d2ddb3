import type { AirgateConfig } from '../config/schema.js';

/** Who a request is, as airgate established it. */
export interface Identity {
  sub: string;
  user: string;
  email: string | undefined;
  groups: string[];
  role: string;
  method: 'oidc' | 'bearer';
  /** The session id (OIDC) or the token's jti/hash (bearer), for assertion caching and logout. */
  sid: string;
  /** The IdP's own session id, for back-channel logout by `sid`. */
  idpSid?: string | undefined;
  claims?: Record<string, unknown>;
}

type RoleRule = NonNullable<AirgateConfig['auth']>['roles'][number];

/** First matching rule wins; every condition a rule names must hold; the default otherwise. */
export function mapRole(rules: readonly RoleRule[], fallback: string, id: { user: string; email: string | undefined; groups: readonly string[]; claims: Record<string, unknown> }): string {
  for (const r of rules) {
    if (r.groups && !r.groups.some((g) => id.groups.includes(g))) continue;
    if (r.users && !r.users.includes(id.user)) continue;
    if (r.email_domains) {
      const domain = id.email?.split('@')[1]?.toLowerCase();
      if (!domain || !r.email_domains.some((d) => d.toLowerCase() === domain)) continue;
    }
    const claim = r.claim;
    if (claim) {
      const v = id.claims[claim.name];
      const values = Array.isArray(v) ? v : [v];
      if (!values.some((x) => claim.values.includes(x as string | number | boolean))) continue;
    }
    return r.role;
  }
  return fallback;
}

/** A claim as a list of strings (groups may come as a list or a single string). */
export function stringList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}
