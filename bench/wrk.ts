/**
 * Running wrk and parsing its `--latency` report.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface WrkOptions {
  wrk: string;
  url: string;
  /** Whole seconds (wrk takes an integer duration). */
  durationSeconds: number;
  threads?: number;
  connections?: number;
  timeoutSeconds?: number;
  /** Extra request headers, e.g. `Cookie: airgate_node=...`. */
  headers?: string[];
}

export interface WrkResult {
  requests: number;
  elapsedMs: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p75?: number; p90?: number; p99: number };
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  raw: string;
}

const UNIT_TO_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "123.45us" | "1.20ms" | "2.00s" → milliseconds. */
export function toMilliseconds(value: string, unit: string): number {
  const factor = UNIT_TO_MS[unit];
  const n = Number(value);
  if (factor === undefined || !Number.isFinite(n)) throw new Error(`unexpected wrk time value "${value}${unit}"`);
  return n * factor;
}

/** Parse the text wrk prints with `--latency`. Throws when the essential lines are missing. */
export function parseWrkOutput(raw: string): WrkResult {
  const percentile = (p: number): number | undefined => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(raw);
    return m && m[1] !== undefined && m[2] !== undefined ? toMilliseconds(m[1], m[2]) : undefined;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(raw);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  const p50 = percentile(50);
  const p99 = percentile(99);
  if (!total || total[1] === undefined || total[2] === undefined || total[3] === undefined || !rps || rps[1] === undefined || p50 === undefined || p99 === undefined) {
    throw new Error(`cannot parse the wrk output:\n${raw}`);
  }
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(raw);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const p75 = percentile(75);
  const p90 = percentile(90);
  const latencyMs: WrkResult['latencyMs'] = { p50, ...(p75 !== undefined ? { p75 } : {}), ...(p90 !== undefined ? { p90 } : {}), p99 };
  return {
    requests: Number(total[1]),
    elapsedMs: toMilliseconds(total[2], total[3]),
    requestsPerSecond: Number(rps[1]),
    latencyMs,
    non2xx3xx: non2xx?.[1] !== undefined ? Number(non2xx[1]) : 0,
    socketErrors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
    },
    raw,
  };
}

const running = new Set<ChildProcess>();

/** Kill any wrk still running (cleanup on error or SIGINT). */
export function killRunningWrk(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Run wrk once (HTTP/1.1 keep-alive GET) and return its parsed report. */
export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads ?? 1}`,
    `-c${options.connections ?? 64}`,
    `-d${Math.max(1, Math.round(options.durationSeconds))}s`,
    `--timeout`,
    `${options.timeoutSeconds ?? 10}s`,
    '--latency',
    ...(options.headers ?? []).flatMap((h) => ['-H', h]),
    options.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    // wrk stops by itself after the duration; this is only a guard against a hung run.
    const guard = setTimeout(() => child.kill('SIGKILL'), (options.durationSeconds + 30) * 1_000);
    child.once('error', (err) => {
      clearTimeout(guard);
      running.delete(child);
      reject(new Error(`cannot run ${options.wrk}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      running.delete(child);
      if (code !== 0) {
        reject(new Error(`wrk ${signal ? `was killed by ${signal}` : `exited with code ${code}`} (${args.join(' ')}):\n${out}`));
        return;
      }
      try {
        resolve(parseWrkOutput(out));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
