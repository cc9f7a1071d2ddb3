import type { IncomingMessage } from 'node:http';
import { rawHeader } from '../proxy/request-keys.js';

/**
 * Who a request claims to be, for the access and audit logs until airgate authenticates users
 * itself: the Basic-auth user name, or the `sub` of a Bearer JWT. Airflow verifies these; the
 * audit line records Airflow's answer, so a refused claim shows as `success: false`.
 */
export function identityHint(req: IncomingMessage): { user: string | undefined; auth: string | undefined } {
  const authz = rawHeader(req, 'authorization');
  if (!authz) return { user: undefined, auth: rawHeader(req, 'cookie')?.includes('session=') ? 'session' : undefined };
  if (authz.startsWith('Basic ')) {
    const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return { user: colon < 0 ? decoded : decoded.slice(0, colon), auth: 'basic' };
  }
  if (authz.startsWith('Bearer ')) {
    const payload = authz.slice(7).split('.')[1];
    try {
      const sub = payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub : undefined;
      return { user: typeof sub === 'string' ? sub : undefined, auth: 'bearer' };
    } catch {
      return { user: undefined, auth: 'bearer' };
    }
  }
  return { user: undefined, auth: 'other' };
}
