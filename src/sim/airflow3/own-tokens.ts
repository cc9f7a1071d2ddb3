import { createHmac, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * Airflow 3's `JWTGenerator` (airflow-core/src/airflow/api_fastapi/auth/tokens.py): claims `jti`,
 * `iss` (only with `jwt_issuer`), `aud`, `nbf`, `exp`, `iat` plus the auth manager's
 * `serialize_user` (`sub`, `role`); HS512 with `jwt_secret`, or the private key's algorithm with
 * `kid` in the header (`jwt_private_key_path` + `jwt_kid`).
 */
export interface OwnKey {
  privateKey: KeyObject;
  kid: string;
  alg: string;
}

export async function generateToken(extras: Record<string, unknown>, o: { secret?: string | undefined; key?: OwnKey | undefined; audience: string; issuer?: string | undefined; validForS: number }): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { ...extras, jti: randomUUID().replace(/-/g, ''), aud: o.audience, nbf: now, exp: now + o.validForS, iat: now };
  if (o.issuer !== undefined) claims.iss = o.issuer;
  if (o.key) return new SignJWT(claims).setProtectedHeader({ alg: o.key.alg, kid: o.key.kid, typ: 'JWT' }).sign(o.key.privateKey);
  const h = Buffer.from(JSON.stringify({ alg: 'HS512', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${h}.${p}.${createHmac('sha512', o.secret ?? '')
    .update(`${h}.${p}`)
    .digest('base64url')}`;
}
