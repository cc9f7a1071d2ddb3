/**
 * Result shapes, ratios and the console / Markdown renderings of a bench run.
 */

export interface TargetResult {
  target: string;
  description: string;
  /** The process whose CPU time is measured. */
  measuredProcess: string;
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
  wrkArgs: string;
}

export interface Ratio {
  name: string;
  numerator: string;
  denominator: string;
  value: number | null;
}

export interface TargetCheck {
  description: string;
  limit: number;
  value: number | null;
  /** null when a needed row is missing (e.g. BENCH_TARGETS excluded it). */
  met: boolean | null;
}

export interface BenchReport {
  environment: Environment;
  results: TargetResult[];
  ratios: Ratio[];
  target: TargetCheck;
}

/** airgate CPU per request may be at most this multiple of the bare node:http server's. */
export const HELLO_CPU_LIMIT = 2.5;

function cpuOf(results: TargetResult[], target: string): number | undefined {
  return results.find((r) => r.target === target)?.cpuUsPerRequest;
}

function ratio(results: TargetResult[], numerator: string, denominator: string): Ratio {
  const a = cpuOf(results, numerator);
  const b = cpuOf(results, denominator);
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : null;
  return { name: `${numerator}/${denominator} CPU per request`, numerator, denominator, value };
}

export function buildReport(environment: Environment, results: TargetResult[]): BenchReport {
  const ratios = [
    ratio(results, 'airgate', 'hello'),
    ratio(results, 'airgate', 'haproxy'),
    ratio(results, 'airgate', 'nginx-proxy'),
    ratio(results, 'airgate-full', 'hello'),
    ratio(results, 'undici-minimal', 'hello'),
    ratio(results, 'airgate', 'undici-minimal'),
    ratio(results, 'airgate-full', 'airgate'),
    ratio(results, 'airgate-full', 'airgate-full-nolog'),
    ratio(results, 'airgate-policy-1000', 'airgate-policy-1'),
    ratio(results, 'airgate-policy-1', 'airgate'),
    ratio(results, 'airgate-2-workers', 'airgate'),
  ];
  const vsHello = ratios[0]?.value ?? null;
  return {
    environment,
    results,
    ratios,
    target: {
      description: `airgate CPU per request <= ${HELLO_CPU_LIMIT} x hello`,
      limit: HELLO_CPU_LIMIT,
      value: vsHello,
      met: vsHello === null ? null : vsHello <= HELLO_CPU_LIMIT,
    },
  };
}

const fmt = (n: number, digits: number) => n.toFixed(digits);

function rows(report: BenchReport): string[][] {
  return report.results.map((r) => [r.target, fmt(r.requestsPerSecond, 0), fmt(r.latencyMs.p50, 3), fmt(r.latencyMs.p99, 3), fmt(r.cpuUsPerRequest, 2)]);
}

const HEADERS = ['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req'];

function targetLine(t: TargetCheck): string {
  if (t.met === null || t.value === null) return `target ${t.description}: not measured (airgate or hello row missing)`;
  return `target ${t.description}: ${t.met ? 'MET' : 'MISSED'} (${fmt(t.value, 2)} x)`;
}

function problems(report: BenchReport): string[] {
  const out: string[] = [];
  for (const r of report.results) {
    const s = r.socketErrors;
    const sock = s.connect + s.read + s.write + s.timeout;
    if (r.non2xx3xx > 0 || sock > 0) {
      out.push(`warning: ${r.target}: ${r.non2xx3xx} non-2xx/3xx responses, socket errors connect ${s.connect}, read ${s.read}, write ${s.write}, timeout ${s.timeout}`);
    }
  }
  return out;
}

/** Plain-text table and ratios for the console. */
export function renderText(report: BenchReport): string {
  const body = rows(report);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ''];
  for (const r of report.ratios) out.push(`${r.name.padEnd(40)} ${r.value === null ? 'n/a' : `${fmt(r.value, 2)} x`}`);
  out.push('', targetLine(report.target), ...problems(report));
  return out.join('\n') + '\n';
}

/** Markdown version with the environment, for bench/results/latest.md. */
export function renderMarkdown(report: BenchReport): string {
  const e = report.environment;
  const out = [
    '# airgate bench — latest run',
    '',
    `- date: ${e.date}`,
    `- node: ${e.node}`,
    `- wrk: ${e.wrk} (\`${e.wrkArgs}\`, ${e.durationSeconds} s per target after a ${e.warmupSeconds} s warm-up)`,
    `- haproxy: ${e.haproxy}`,
    `- nginx: ${e.nginx}`,
    `- nproc: ${e.nproc}; platform: ${e.platform}; CLK_TCK: ${e.clockTicksPerSecond}`,
    '',
    'All processes on 127.0.0.1; the upstream is one nginx worker answering `hello world\\n` (12 bytes).',
    'CPU µs/req is the utime+stime of the measured process (from /proc/<pid>/stat) over the wrk run divided by the requests wrk completed.',
    '',
    `| ${HEADERS.join(' | ')} | measured process |`,
    `|${HEADERS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}| --- |`,
    ...rows(report).map((r, i) => `| ${r.join(' | ')} | ${report.results[i]?.measuredProcess ?? ''} |`),
    '',
    '| ratio | value |',
    '| --- | ---: |',
    ...report.ratios.map((r) => `| ${r.name} | ${r.value === null ? 'n/a' : `${fmt(r.value, 2)} ×`} |`),
    '',
    `**${targetLine(report.target)}**`,
    ...problems(report).map((p) => `\n> ${p}`),
    '',
  ];
  return out.join('\n');
}
