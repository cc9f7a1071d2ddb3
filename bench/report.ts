/**
 * Result shapes of a bench run, and the comparisons and goals computed from them. The console
 * and Markdown renderings are in render.ts.
 */

/** One wrk run against one target at one concurrency. */
export interface TargetResult {
  target: string;
  description: string;
  /** The process whose CPU time is measured. */
  measuredProcess: string;
  /** wrk -c: open keep-alive connections during the run. */
  connections: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p75?: number; p90?: number; p99: number };
  /** utime + stime of the measured process over the measured wrk run. */
  cpuSeconds: number;
  cpuUsPerRequest: number;
  /** CPU of the upstream nginx during the same run (for proxies; equals cpuUsPerRequest for "direct"). */
  upstreamCpuUsPerRequest: number;
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

export interface Environment {
  date: string;
  node: string;
  wrk: string;
  haproxy: string;
  nginx: string;
  nproc: number;
  clockTicksPerSecond: number;
  platform: string;
  durationSeconds: number;
  warmupSeconds: number;
  /** The wrk -c values, each target measured at every one. */
  connections: number[];
  wrkArgs: string;
  /** Rounds over every target; each row is the round with the median CPU µs/req. */
  rounds: number;
  /** AIRGATE_UPSTREAM_CLIENT as the bench found it (it changes the default client of every airgate row but airgate-undici). */
  upstreamClientEnv: string | null;
}

/**
 * `cpu`: numerator CPU µs/req ÷ denominator CPU µs/req (×).
 * `p99`: numerator p99 − denominator p99 (ms).
 */
export type ComparisonKind = 'cpu' | 'p99';

export interface Comparison {
  kind: ComparisonKind;
  numerator: string;
  denominator: string;
  connections: number;
  /** null when a needed row is missing (BENCH_TARGETS or BENCH_CONNECTIONS left it out). */
  value: number | null;
}

/** A performance goal from issue #21: a comparison at one concurrency and its limit. */
export interface Goal extends Comparison {
  description: string;
  limit: number;
  /** null when not measured. A missed goal is reported, never asserted. */
  met: boolean | null;
}

export interface BenchReport {
  environment: Environment;
  results: TargetResult[];
  comparisons: Comparison[];
  goals: Goal[];
}

/** Compared at every measured concurrency, in this order. */
const COMPARED: readonly (readonly [ComparisonKind, string, string])[] = [
  ['cpu', 'airgate', 'hello'],
  ['cpu', 'airgate-full', 'hello'],
  ['cpu', 'airgate', 'haproxy'],
  ['cpu', 'airgate', 'nginx-proxy'],
  ['cpu', 'undici-minimal', 'hello'],
  ['cpu', 'airgate', 'undici-minimal'],
  ['cpu', 'airgate-undici', 'airgate'],
  ['cpu', 'airgate-undici', 'undici-minimal'],
  ['cpu', 'airgate-full', 'airgate'],
  ['cpu', 'airgate-full', 'airgate-full-nolog'],
  ['cpu', 'airgate-policy-1000', 'airgate-policy-1'],
  ['cpu', 'airgate-policy-1', 'airgate'],
  ['cpu', 'airgate-2-workers', 'airgate'],
  ['p99', 'airgate', 'haproxy'],
];

/** The goals of issue #21 item 3. */
const GOALS: readonly { kind: ComparisonKind; numerator: string; denominator: string; connections: number; limit: number; description: string }[] = [
  { kind: 'cpu', numerator: 'airgate', denominator: 'hello', connections: 64, limit: 2.0, description: 'airgate CPU/req ≤ 2.0 × hello at -c64' },
  { kind: 'cpu', numerator: 'airgate', denominator: 'hello', connections: 8, limit: 2.2, description: 'airgate CPU/req ≤ 2.2 × hello at -c8' },
  { kind: 'cpu', numerator: 'airgate-full', denominator: 'hello', connections: 64, limit: 2.5, description: 'airgate-full CPU/req ≤ 2.5 × hello at -c64' },
  { kind: 'p99', numerator: 'airgate', denominator: 'haproxy', connections: 8, limit: 0.3, description: 'airgate p99 ≤ haproxy p99 + 0.3 ms at -c8' },
  { kind: 'cpu', numerator: 'airgate', denominator: 'undici-minimal', connections: 64, limit: 1.15, description: 'airgate CPU/req ≤ 1.15 × undici-minimal at -c64' },
  { kind: 'cpu', numerator: 'airgate-full', denominator: 'airgate', connections: 64, limit: 1.25, description: 'airgate-full CPU/req ≤ 1.25 × airgate at -c64' },
];

export function findResult(results: readonly TargetResult[], target: string, connections: number): TargetResult | undefined {
  return results.find((r) => r.target === target && r.connections === connections);
}

function compare(results: readonly TargetResult[], kind: ComparisonKind, numerator: string, denominator: string, connections: number): Comparison {
  const a = findResult(results, numerator, connections);
  const b = findResult(results, denominator, connections);
  let value: number | null = null;
  if (a && b) {
    if (kind === 'p99') value = a.latencyMs.p99 - b.latencyMs.p99;
    else if (b.cpuUsPerRequest > 0) value = a.cpuUsPerRequest / b.cpuUsPerRequest;
  }
  return { kind, numerator, denominator, connections, value };
}

export function buildReport(environment: Environment, results: TargetResult[]): BenchReport {
  const comparisons = COMPARED.flatMap(([kind, numerator, denominator]) => environment.connections.map((c) => compare(results, kind, numerator, denominator, c)));
  const goals = GOALS.map((g): Goal => {
    const { value } = compare(results, g.kind, g.numerator, g.denominator, g.connections);
    return { ...g, value, met: value === null ? null : value <= g.limit };
  });
  return { environment, results, comparisons, goals };
}

/**
 * One result per target and concurrency from several rounds: the round whose CPU µs/req is the
 * median (the lower middle for an even count), reported whole (its req/s and latencies with it).
 * Targets keep the order of their first round.
 */
export function medianRounds(measured: readonly TargetResult[]): TargetResult[] {
  const groups = new Map<string, TargetResult[]>();
  for (const r of measured) {
    const key = `${r.target} -c${r.connections}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.cpuUsPerRequest - b.cpuUsPerRequest);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  });
}
