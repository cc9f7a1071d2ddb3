import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Log continuation tokens: `URLSafeSerializer([api] secret_key).dumps(metadata)` (itsdangerous,
 * used by airflow-core/src/airflow/api_fastapi/core_api/routes/public/log.py). The signature is
 * HMAC-SHA1 under a key derived from the secret ("django-concat": sha1(salt + "signer" + secret)),
 * so a token from a node with another secret_key fails with BadSignature → 400.
 */
function derived(secret: string): Buffer {
  return createHash('sha1').update('itsdangerous').update('signer').update(secret).digest();
}

export function dumps(data: unknown, secret: string): string {
  const payload = Buffer.from(JSON.stringify(data)).toString('base64url');
  return `${payload}.${createHmac('sha1', derived(secret)).update(payload).digest('base64url')}`;
}

export function loads(token: string, secret: string): unknown {
  const dot = token.lastIndexOf('.');
  if (dot < 0) return undefined;
  const expected = createHmac('sha1', derived(secret)).update(token.slice(0, dot)).digest();
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    return JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString());
  } catch {
    return undefined;
  }
}
