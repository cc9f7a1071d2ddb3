import { createHmac, timingSafeEqual } from 'node:crypto';

/** A Flask-like signed session value: base64url(JSON) "." base64url(HMAC-SHA256). */
export function signSession(data: Record<string, unknown>, secretKey: string): string {
  const payload = Buffer.from(JSON.stringify(data)).toString('base64url');
  return `${payload}.${createHmac('sha256', secretKey).update(payload).digest('base64url')}`;
}

export type SessionCheck = { ok: true; data: Record<string, unknown> } | { ok: false; reason: 'missing' | 'bad-signature' };

export function verifySession(cookie: string | undefined, secretKey: string): SessionCheck {
  if (!cookie) return { ok: false, reason: 'missing' };
  const dot = cookie.lastIndexOf('.');
  if (dot < 0) return { ok: false, reason: 'bad-signature' };
  const payload = cookie.slice(0, dot);
  const expected = createHmac('sha256', secretKey).update(payload).digest();
  const given = Buffer.from(cookie.slice(dot + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' };
  try {
    return { ok: true, data: JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown> };
  } catch {
    return { ok: false, reason: 'bad-signature' };
  }
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}
