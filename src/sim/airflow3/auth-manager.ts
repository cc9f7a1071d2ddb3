/**
 * SimpleAuthManager's authorization (airflow-core/src/airflow/api_fastapi/auth/managers/simple/
 * simple_auth_manager.py `_is_authorized`): roles VIEWER < USER < OP < ADMIN; ADMIN may do
 * everything; a GET needs the resource's read role, anything else its write role. The user is
 * `deserialize_user(token)` = `{sub, role}`: a token without `role`, or a role that is not one of
 * the four (`SimpleAuthManagerRole[role.upper()]`), raises KeyError — a 500.
 */
export const ROLE_ORDER: Record<string, number> = { VIEWER: 0, USER: 1, OP: 2, ADMIN: 3 };

export type Resource = 'dag' | 'backfill' | 'configuration' | 'connection' | 'pool' | 'variable' | 'asset' | 'view';

/** [role needed to GET, role needed for other methods]. */
const RULES: Record<Resource, [string, string]> = {
  dag: ['VIEWER', 'USER'],
  backfill: ['VIEWER', 'OP'],
  configuration: ['VIEWER', 'OP'],
  connection: ['OP', 'OP'],
  pool: ['VIEWER', 'OP'],
  variable: ['OP', 'OP'],
  asset: ['VIEWER', 'OP'],
  view: ['VIEWER', 'VIEWER'],
};

export class UnknownRole extends Error {}

export interface SimUser {
  username: string;
  role: string;
}

/** `deserialize_user`: KeyError (UnknownRole here) without a usable `sub`/`role`. */
export function deserializeUser(claims: Record<string, unknown>): SimUser {
  if (typeof claims.sub !== 'string') throw new UnknownRole("KeyError: 'sub'");
  if (typeof claims.role !== 'string') throw new UnknownRole("KeyError: 'role'");
  return { username: claims.sub, role: claims.role };
}

export function isAuthorized(user: SimUser, resource: Resource, method: string): boolean {
  const order = ROLE_ORDER[user.role.toUpperCase()];
  if (order === undefined) throw new UnknownRole(`KeyError: '${user.role.toUpperCase()}'`);
  if (order === ROLE_ORDER.ADMIN) return true;
  const [get, other] = RULES[resource];
  return order >= ROLE_ORDER[method === 'GET' ? get : other]!;
}
