import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainHost } from '../core/host.js';
import { sendError } from '../proxy/error-response.js';
import { requestIdFor } from '../proxy/request-id.js';
import { normalizePath } from '../policy/normalize.js';
import { scanHeaders } from '../pipeline/normalize.js';

/**
 * `redirect_to_https`: every request goes to the same host and path on the HTTPS port (301 for
 * GET and HEAD, 308 otherwise), except `/_airgate/health`, which every public listener answers.
 * A request without a usable Host gets the gateway's 400.
 */
export function redirectToHttps(req: IncomingMessage, res: ServerResponse, httpsPort: number, draining: boolean): void {
  const facts = scanHeaders(req);
  const id = requestIdFor(facts.requestId);
  const target = req.url ?? '/';
  const norm = target.startsWith('/') ? normalizePath(target) : undefined;
  if (norm?.ok && norm.path === '/_airgate/health') {
    const body = JSON.stringify({ status: draining ? 'stopping' : 'ok' });
    res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': id });
    return void res.end(req.method === 'HEAD' ? undefined : body);
  }
  const host = facts.host;
  if (!host || facts.hosts > 1 || !isPlainHost(host) || !norm?.ok) {
    res.shouldKeepAlive = false;
    return sendError(req, res, 'AIRGATE_ERR_BAD_REQUEST', id, { detail: !host || facts.hosts > 1 || !isPlainHost(host) ? 'One valid Host header is required.' : 'The request target must be a path.' });
  }
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  const safe = req.method === 'GET' || req.method === 'HEAD';
  res.writeHead(safe ? 301 : 308, { location: `https://${hostname}${port}${norm.path}${norm.query}`, 'content-length': 0, 'x-request-id': id });
  res.end();
}
