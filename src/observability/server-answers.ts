import type { RequestRecord } from './request-record.js';

/**
 * Per server: the requests whose answer the client got from it, and the 5xx among them (what
 * `airgate status` and the dashboard show as SERVED and 5XX). Counted from the finished request,
 * so an attempt that failed and was retried on another server counts for the other; a gateway
 * 502/504 after the last server failed counts for that server.
 */
export class ServerAnswers {
  private readonly counts = new Map<string, [number, number]>();

  record(r: RequestRecord): void {
    if (!r.server || (r.headersMs < 0 && !r.termination.startsWith('upstream-'))) return;
    const key = `${r.backend}\u0000${r.server}`;
    let a = this.counts.get(key);
    if (!a) this.counts.set(key, (a = [0, 0]));
    a[0]++;
    if (r.status >= 500) a[1]++;
  }

  of(backend: string, server: string): { served: number; failed: number } {
    const a = this.counts.get(`${backend}\u0000${server}`);
    return { served: a?.[0] ?? 0, failed: a?.[1] ?? 0 };
  }
}
