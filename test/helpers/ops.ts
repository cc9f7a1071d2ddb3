import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'undici';
import parsePrometheus, { type PromFamily } from 'parse-prometheus-text-format';

/** The JSON log lines a spawned gateway wrote to stdout (primary and workers alike). */
export function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * `n` GETs, each on a fresh connection (so the kernel spreads them over every worker), `concurrency`
 * at a time; `id(i)` names each request's x-request-id. Resolves with the status codes seen.
 */
export async function freshRequests(url: string, n: number, concurrency: number, id: (i: number) => string): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const loop = async () => {
    while (next < n) {
      const i = next++;
      const res = await request(url, { headers: { 'x-request-id': id(i) }, reset: true });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return statuses;
}

/** GET /metrics with the bearer token: the parsed families and the text. */
export async function scrape(admin: string, token: string): Promise<{ families: PromFamily[]; text: string }> {
  const res = await request(`${admin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  const text = await res.body.text();
  return { families: parsePrometheus(text), text };
}

/**
 * Histogram counts as `name{labels}` → value, read from the `_count` lines: the parser folds every
 * series of a histogram into one when prom-client writes `le` before the other labels.
 */
export function histogramCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(\w+)_count(\{[^}]*\})? (\S+)$/gm)) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  return out;
}

/** Every counter sample (by the parser) and histogram count as `name{labels}` → value. */
export function counterSamples(scraped: { families: PromFamily[]; text: string }): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of scraped.families) {
    if (f.type !== 'COUNTER') continue;
    for (const m of f.metrics) out.set(`${f.name}${JSON.stringify(m.labels ?? {})}`, Number(m.value));
  }
  for (const [k, v] of histogramCounts(scraped.text)) out.set(`${k}:count`, v);
  return out;
}

/**
 * Whether any of `pids` holds a socket listening on TCP port `port` (Node's inspector uses 9229):
 * listening sockets come from /proc/net/tcp{,6}, their owners from /proc/PID/fd. Another
 * program's listener on the same port does not count.
 */
export function listensOn(pids: readonly number[], port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(hex) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return false;
}

/** Like waitFor, for a condition that needs a request to check (polled until it holds). */
export async function waitForAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}
