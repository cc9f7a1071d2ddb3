import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './http-util.js';

/** `/_sim/echo`: what arrived, byte for byte: method, target, version, raw headers, body size and hash. */
export async function echo(req: IncomingMessage, res: ServerResponse, node: string): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    const v = req.rawHeaders[i + 1]!;
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  sendJson(res, 200, { node, method: req.method, url: req.url, httpVersion: req.httpVersion, headers, rawHeaders: req.rawHeaders, bodyBytes: bytes, sha256: hash.digest('hex'), trailers: req.trailers });
}

/** `/_sim/trailers`: a chunked body followed by a trailer field. */
export function trailers(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
  res.write('part one\n');
  res.write('part two\n');
  res.addTrailers({ 'x-checksum': 'abc123' });
  res.end();
}

/**
 * A line stream (`text/plain` or `application/x-ndjson`). With `gate`, each line after the
 * first waits for `next()` so a test can prove every chunk crossed the gateway on its own.
 */
export class LineStreamer {
  private waiting: (() => void)[] = [];
  private credits = 0;

  next(): void {
    const w = this.waiting.shift();
    if (w) w();
    else this.credits++;
  }

  private wait(): Promise<void> {
    if (this.credits > 0) {
      this.credits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async serve(res: ServerResponse, opts: { lines: number; contentType: string; gated: boolean; intervalMs: number; render: (i: number) => string; headers?: Record<string, string> }): Promise<void> {
    res.writeHead(200, { 'content-type': opts.contentType, 'cache-control': 'no-cache', ...opts.headers });
    for (let i = 1; i <= opts.lines && !res.destroyed; i++) {
      if (i > 1) {
        if (opts.gated) await this.wait();
        else await new Promise((r) => setTimeout(r, opts.intervalMs));
      }
      res.write(opts.render(i));
    }
    res.end();
  }
}
