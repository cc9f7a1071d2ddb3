import { randomBytes } from 'node:crypto';

const SAFE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const prefix = randomBytes(6).toString('base64url');
let counter = 0;

/**
 * Keep a client's X-Request-Id when it is short and made of safe characters (so it can be
 * logged and echoed without injection); otherwise mint a new one: a per-process random
 * prefix and a counter, unique across instances and cheap to make.
 */
export function requestIdFor(clientValue: string | undefined): string {
  if (clientValue !== undefined && SAFE_ID.test(clientValue)) return clientValue;
  counter = (counter + 1) % 0x7fffffff;
  return `${prefix}-${counter.toString(36)}`;
}
