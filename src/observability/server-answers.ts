import type { RequestRecord } from './request-record.js';

/** One server's answers: [served, 5xx among them]. */
export type AnswerCounts = [number, number];

/**
 * Per server: the requests whose answer the client got from it, and the 5xx among them (what
 * `airgate status` and the dashboard show as SERVED and 5XX). Counted from the finished request,
 * so an attempt that failed and was retried on another server counts for the other; a gateway
 * 502/504 after the last server failed counts for that server.
 */
export class ServerAnswers {
  private readonly counts = new Map<string, Map<string, AnswerCounts>>();

  /** The counts of `server` of `backend` (created on first use; the request path keeps them). */
  counter(backend: string, server: string): AnswerCounts {
    let servers = this.counts.get(backend);
    if (!servers) this.counts.set(backend, (servers = new Map<string, AnswerCounts>()));
    let a = servers.get(server);
    if (!a) servers.set(server, (a = [0, 0]));
    return a;
  }

  record(r: RequestRecord, a: AnswerCounts): void {
    if (r.headersMs < 0 && !r.termination.startsWith('upstream-')) return;
    a[0]++;
    if (r.status >= 500) a[1]++;
  }

  of(backend: string, server: string): { served: number; failed: number } {
    const a = this.counts.get(backend)?.get(server);
    return { served: a?.[0] ?? 0, failed: a?.[1] ?? 0 };
  }
}
