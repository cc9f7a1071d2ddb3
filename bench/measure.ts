/**
 * One measurement: a warm-up, then wrk at one concurrency, with the CPU the target spent.
 */
import type { ManagedProcess } from './processes.js';
import { cpuTicks, cpuTicksTree } from './processes.js';
import type { TargetResult } from './report.js';
import { runWrk } from './wrk.js';

export const WRK_THREADS = 1;

export interface Started {
  proc: ManagedProcess;
  port: number;
  /** false for "direct", whose process is the shared upstream. */
  stopAfter: boolean;
}

export interface Target {
  name: string;
  /** Count the CPU of the measured process's children too (a primary with workers). */
  tree?: boolean;
  /** A Cookie header wrk sends, as a browser returning airgate's sticky cookie would. */
  cookie?: string;
  description: string;
  measuredProcess: string;
  start(): Promise<Started>;
}

export interface Measurement {
  wrk: string;
  ticksPerSecond: number;
  target: Target;
  started: Started;
  upstream: ManagedProcess;
  url: string;
  cookie: string | undefined;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

/** A warm-up, then one measured wrk run at one concurrency, with the CPU the target (and the upstream) spent on it. */
export async function measure(m: Measurement): Promise<TargetResult> {
  const { target, started, connections } = m;
  const wrkBase = { wrk: m.wrk, url: m.url, threads: WRK_THREADS, connections, headers: m.cookie ? [`Cookie: ${m.cookie}`] : [] };
  if (m.warmupSeconds > 0) await runWrk({ ...wrkBase, durationSeconds: m.warmupSeconds });

  const cpu = target.tree ? cpuTicksTree : cpuTicks;
  const before = cpu(started.proc.pid);
  const upstreamBefore = cpuTicks(m.upstream.pid);
  const wrk = await runWrk({ ...wrkBase, durationSeconds: m.durationSeconds });
  const after = cpu(started.proc.pid);
  const upstreamAfter = cpuTicks(m.upstream.pid);
  if (!started.proc.running) throw new Error(`${target.name} ${started.proc.describeExit()} during the run:\n${started.proc.log}`);
  if (wrk.requests <= 0) throw new Error(`${target.name}: wrk -c${connections} completed no requests:\n${wrk.raw}`);

  const cpuSeconds = (after - before) / m.ticksPerSecond;
  return {
    target: target.name,
    description: target.description,
    measuredProcess: target.measuredProcess,
    connections,
    requests: wrk.requests,
    requestsPerSecond: wrk.requestsPerSecond,
    latencyMs: wrk.latencyMs,
    cpuSeconds,
    cpuUsPerRequest: (cpuSeconds * 1e6) / wrk.requests,
    upstreamCpuUsPerRequest: (((upstreamAfter - upstreamBefore) / m.ticksPerSecond) * 1e6) / wrk.requests,
    non2xx3xx: wrk.non2xx3xx,
    socketErrors: wrk.socketErrors,
  };
}
