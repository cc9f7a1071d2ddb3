import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * JSON the way the api-server sends it: FastAPI's JSONResponse, through Starlette's
 * `GZipMiddleware(minimum_size=1024)` (airflow-core/src/airflow/api_fastapi/app.py): a body of at
 * least 1 KB is gzipped when the client accepts gzip, with `Vary: Accept-Encoding`.
 */
export function sendJson3(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = Buffer.from(JSON.stringify(body));
  const accepts = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
  if (text.length >= 1024 && accepts) {
    const gz = gzipSync(text);
    res.writeHead(status, { 'content-type': 'application/json', 'content-encoding': 'gzip', vary: 'Accept-Encoding', 'content-length': gz.length, ...headers });
    return void res.end(gz);
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': text.length, ...headers });
  res.end(text);
}

/** FastAPI's HTTPException: `{"detail": …}`. */
export function detail(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  sendJson3(req, res, status, { detail: text }, headers);
}
