import { Agent, request } from 'undici';

export interface LoadResult {
  ok: number;
  failed: { status: number | string; node?: string }[];
  /** Requests answered per simulated node (`x-sim-node`). */
  byNode: Record<string, number>;
}

/**
 * `concurrency` loops sending GETs through the gateway until `total` requests are done;
 * `onProgress(done)` runs after each answer (tests use it to inject a fault mid-run).
 */
export async function runLoad(url: string, opts: { total: number; concurrency: number; headers?: Record<string, string>; onProgress?: (done: number) => void | Promise<void> }): Promise<LoadResult> {
  const agent = new Agent({ connections: opts.concurrency, keepAliveTimeout: 2000 });
  const result: LoadResult = { ok: 0, failed: [], byNode: {} };
  let started = 0;
  let done = 0;
  const worker = async () => {
    while (started < opts.total) {
      started++;
      try {
        const res = await request(url, { dispatcher: agent, headers: opts.headers });
        await res.body.dump();
        const node = res.headers['x-sim-node'] as string | undefined;
        if (res.statusCode === 200) result.ok++;
        else result.failed.push({ status: res.statusCode, node });
        if (node) result.byNode[node] = (result.byNode[node] ?? 0) + 1;
      } catch (err) {
        result.failed.push({ status: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
      done++;
      await opts.onProgress?.(done);
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    await agent.close();
  }
  return result;
}
