import type { AirflowState, SimUser } from '../state.js';

/**
 * Airflow's default FAB roles, each granting what the one before grants and more
 * (airflow/providers/fab/auth_manager/security_manager/override.py: VIEWER_PERMISSIONS,
 * USER_PERMISSIONS, OP_PERMISSIONS, ADMIN_PERMISSIONS). Public grants nothing, not even the website.
 */
const RANK: Readonly<Record<string, number>> = Object.freeze({ Public: 0, Viewer: 1, User: 2, Op: 3, Admin: 4 });

/** What an action needs: reading DAGs (Viewer), changing DAGs and runs (User), variables/connections/pools (Op), users and roles (Admin). */
export type Need = 'Viewer' | 'User' | 'Op' | 'Admin';

export function roleExists(role: string): boolean {
  return role in RANK;
}

export function allowed(role: string | undefined, need: Need): boolean {
  return role !== undefined && (RANK[role] ?? 0) >= RANK[need]!;
}

/** FAB's `find_user(username=…)` matches case-insensitively (flask_appbuilder/security/sqla/manager.py). */
export function findUser(state: AirflowState, username: string): [string, SimUser] | undefined {
  const exact = state.users.get(username);
  if (exact) return [username, exact];
  const folded = username.toLowerCase();
  for (const entry of state.users) if (entry[0].toLowerCase() === folded) return entry;
  return undefined;
}

/**
 * `auth_user_remote_user(username)` (flask_appbuilder/security/manager.py): the known user, or
 * with AUTH_USER_REGISTRATION a new one with AUTH_USER_REGISTRATION_ROLE (never a mapped role);
 * None for an unknown user without registration or a deactivated user.
 */
export function authUserRemoteUser(state: AirflowState, username: string, registrationRole: string | undefined): string | undefined {
  const found = findUser(state, username);
  if (found) return found[1].active === false ? undefined : found[0];
  if (registrationRole === undefined || !roleExists(registrationRole)) return undefined;
  state.users.set(username, { role: registrationRole, email: `${username}@email.notfound` });
  return username;
}

/**
 * airgate_identity.fab_user_for: find or create the asserted user with exactly the asserted role;
 * the user name, or [status, why] when Airflow must refuse (unknown role, e-mail taken, deactivated).
 */
export function fabUserFor(state: AirflowState, username: string, email: string | undefined, role: string): string | [number, string] {
  if (!roleExists(role)) return [403, `the role '${role}' airgate sent does not exist in Airflow`];
  const found = findUser(state, username);
  if (!found) {
    const mail = email ?? `${username}@airgate.invalid`;
    // FAB's add_user answers False on a database error, e.g. an e-mail another user has.
    for (const u of state.users.values()) if (u.email !== undefined && u.email.toLowerCase() === mail.toLowerCase()) return [403, `Airflow could not create the user '${username}' (see the webserver log)`];
    state.users.set(username, { role, email: mail });
    return username;
  }
  const [name, user] = found;
  if (user.active === false) return [403, `the user '${name}' is deactivated in Airflow`];
  user.role = role;
  return name;
}
