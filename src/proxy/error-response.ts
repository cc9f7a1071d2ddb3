import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERRORS, type ErrorCode } from '../core/errors.js';

/**
 * Whether a request comes from a browser asking for a page (HTML errors, login redirects) rather
 * than an API or XHR client (JSON errors, 401s): it accepts text/html, is not XHR, and is not on
 * Airflow's API, private UI API or worker paths.
 *
 * The one place gateway-made errors are rendered. Browsers get a small HTML page, API clients
 * `application/problem+json` (RFC 9457); both carry the request id, and the response carries
 * `x-airgate-error: <code>` so nobody mistakes the gateway's answer for Airflow's.
 */
export function wantsHtml(req: IncomingMessage, path: string = req.url ?? '/'): boolean {
  const accept = req.headers.accept;
  if (!accept || !accept.includes('text/html')) return false;
  if (req.headers['x-requested-with'] !== undefined) return false;
  // fetch() from a page (cors, same-origin) wants data, like XHR; navigations and old browsers send navigate or nothing.
  const mode = req.headers['sec-fetch-mode'];
  if (mode === 'cors' || mode === 'same-origin' || mode === 'no-cors') return false;
  return !API_PATH.test(path);
}

/** Airflow's API, private UI API and worker paths, on the normalized path, any case. */
const API_PATH = /^\/+(?:api|execution|ui)(?:\/|$)/i;

export function problemJson(code: ErrorCode, requestId: string, detail?: string): string {
  const e = ERRORS[code];
  return JSON.stringify({ type: `https://airgate.dev/errors#${code}`, title: e.title, status: e.status, detail: detail ?? e.detail, code, request_id: requestId });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function errorHtml(code: ErrorCode, requestId: string, detail?: string): string {
  const e = ERRORS[code];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e.status} ${escapeHtml(e.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}small{color:#666}</style></head>
<body><h1>${e.status} ${escapeHtml(e.title)}</h1><p>${escapeHtml(detail ?? e.detail)}</p>
<p><small>Answered by the airgate gateway · error ${code} · request id <code>${escapeHtml(requestId)}</code></small></p></body></html>\n`;
}

export interface ErrorExtras {
  detail?: string;
  retryAfterSeconds?: number;
  /** Strict-Transport-Security value of the listener, if it sets one. */
  hsts?: string | undefined;
  /** A WWW-Authenticate challenge (401s). */
  challenge?: string | undefined;
  /** The normalized path, when known (decides HTML or JSON with the raw target as fallback). */
  path?: string | undefined;
}

/** Answer `res` with the gateway error `code`; when the response has already started, cut it. */
export function sendError(req: IncomingMessage, res: ServerResponse, code: ErrorCode, requestId: string, extras?: ErrorExtras): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const html = wantsHtml(req, extras?.path);
  const body = html ? errorHtml(code, requestId, extras?.detail) : problemJson(code, requestId, extras?.detail);
  const headers: Record<string, string | number> = {
    'content-type': html ? 'text/html; charset=utf-8' : 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-airgate-error': code,
    'x-request-id': requestId,
  };
  const status = ERRORS[code].status;
  if (extras?.hsts) headers['strict-transport-security'] = extras.hsts;
  if (extras?.challenge) headers['www-authenticate'] = extras.challenge;
  if (extras?.retryAfterSeconds !== undefined) headers['retry-after'] = extras.retryAfterSeconds;
  else if (status === 503) headers['retry-after'] = 5;
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A complete HTTP/1.1 error response for a raw socket (parse errors, timeouts before a request exists). */
export function rawErrorResponse(code: ErrorCode, requestId: string): string {
  const e = ERRORS[code];
  const body = problemJson(code, requestId);
  return (
    `HTTP/1.1 ${e.status} ${e.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Cache-Control: no-store\r\nConnection: close\r\nx-airgate-error: ${code}\r\nx-request-id: ${requestId}\r\n\r\n${body}`
  );
}
