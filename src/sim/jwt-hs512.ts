import { createHmac, timingSafeEqual } from 'node:crypto';

/** The simulated Airflow 3 api-server's own tokens: HS512 JWTs signed with `[api_auth] jwt_secret`. */
export function mintToken(sub: string, secret: string, ttlSeconds = 3600, aud = 'apache-airflow'): string {
  const now = Math.floor(Date.now() / 1000);
  const h = Buffer.from(JSON.stringify({ alg: 'HS512', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ sub, aud, iat: now, nbf: now, exp: now + ttlSeconds })).toString('base64url');
  return `${h}.${p}.${createHmac('sha512', secret).update(`${h}.${p}`).digest('base64url')}`;
}

export type TokenCheck = { ok: true; sub: string } | { ok: false; expired: boolean };

export function checkToken(token: string, secret: string): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, expired: false };
  const expected = createHmac('sha512', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, expired: false };
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { sub: string; exp: number };
    if (claims.exp < Date.now() / 1000) return { ok: false, expired: true };
    return { ok: true, sub: claims.sub };
  } catch {
    return { ok: false, expired: false };
  }
}
