import { Agent, request } from 'undici';
import type { LoadResult } from './load.js';

/** One kind of request the load sends. */
export interface LoadKind {
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Keep the sticky cookie the gateway sets and send it back (a browser session). */
  sticky?: string;
}

/** A load that runs until stopped; `done` counts answers so far. */
export interface RunningLoad {
  readonly done: number;
  stop(): Promise<LoadResult>;
}

/**
 * `concurrency` loops, loop i sending kind i mod kinds.length, until `stop()`. A non-200
 * answer or a transport error is a failure. Each sticky loop keeps its own cookie.
 */
export function mixedLoad(base: string, kinds: readonly LoadKind[], concurrency: number): RunningLoad {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 2000 });
  const result: LoadResult = { ok: 0, failed: [], byNode: {} };
  let stopped = false;
  let done = 0;
  const loop = async (i: number) => {
    const kind = kinds[i % kinds.length]!;
    let cookie: string | undefined;
    while (!stopped) {
      try {
        const headers = { ...kind.headers, ...(cookie ? { cookie } : {}) };
        const res = await request(base + kind.path, { dispatcher: agent, method: kind.method ?? 'GET', headers, body: kind.body });
        await res.body.dump();
        const node = res.headers['x-sim-node'] as string | undefined;
        if (kind.sticky) {
          const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${kind.sticky}=`));
          if (set) cookie = set.split(';')[0];
        }
        if (res.statusCode === 200) result.ok++;
        else result.failed.push({ status: res.statusCode, node });
        if (node) result.byNode[node] = (result.byNode[node] ?? 0) + 1;
      } catch (err) {
        result.failed.push({ status: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
      done++;
    }
  };
  const loops = Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  let stopping: Promise<LoadResult> | undefined;
  return {
    get done() {
      return done;
    },
    stop() {
      stopped = true;
      stopping ??= loops.then(() => agent.close()).then(() => result);
      return stopping;
    },
  };
}
