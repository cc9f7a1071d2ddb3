/**
 * The console and Markdown renderings of a bench report: one row per target with the numbers
 * of every concurrency side by side, the comparisons per concurrency, then the goals.
 */
import { findResult, type BenchReport, type Comparison, type Goal } from './report.js';

const fmt = (n: number, digits: number) => n.toFixed(digits);
const METRICS = ['req/s', 'p50 ms', 'p99 ms', 'CPU µs/req'];

/** Targets in the order they ran, each with its numbers at every concurrency ('' where not measured). */
function resultRows(report: BenchReport): string[][] {
  const targets = [...new Set(report.results.map((r) => r.target))];
  return targets.map((target) => [
    target,
    ...report.environment.connections.flatMap((c) => {
      const r = findResult(report.results, target, c);
      return r ? [fmt(r.requestsPerSecond, 0), fmt(r.latencyMs.p50, 3), fmt(r.latencyMs.p99, 3), fmt(r.cpuUsPerRequest, 2)] : METRICS.map(() => '');
    }),
  ]);
}

function comparisonName(c: Pick<Comparison, 'kind' | 'numerator' | 'denominator'>): string {
  return c.kind === 'p99' ? `${c.numerator} p99 − ${c.denominator} p99` : `${c.numerator} / ${c.denominator} CPU per request`;
}

function comparisonValue(c: Pick<Comparison, 'kind' | 'value'>): string {
  if (c.value === null) return 'n/a';
  return c.kind === 'p99' ? `${c.value >= 0 ? '+' : ''}${fmt(c.value, 3)} ms` : `${fmt(c.value, 2)} ×`;
}

/** One row per comparison that has a value at some concurrency: name, then the value at each concurrency. */
function comparisonRows(report: BenchReport): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  for (const c of report.comparisons) {
    const name = comparisonName(c);
    if (seen.has(name)) continue;
    seen.add(name);
    const same = report.comparisons.filter((x) => comparisonName(x) === name);
    if (same.every((x) => x.value === null)) continue;
    out.push([name, ...report.environment.connections.map((conn) => comparisonValue(same.find((x) => x.connections === conn) ?? { kind: c.kind, value: null }))]);
  }
  return out;
}

function goalLine(g: Goal): string {
  if (g.met === null) return `target ${g.description}: not measured (needs the ${g.numerator} and ${g.denominator} rows at -c${g.connections})`;
  return `target ${g.description}: ${g.met ? 'MET' : 'MISSED'} (${comparisonValue(g)})`;
}

function problems(report: BenchReport): string[] {
  const out: string[] = [];
  for (const r of report.results) {
    const s = r.socketErrors;
    if (r.non2xx3xx > 0 || s.connect + s.read + s.write + s.timeout > 0) {
      out.push(`warning: ${r.target} at -c${r.connections}: ${r.non2xx3xx} non-2xx/3xx responses, socket errors connect ${s.connect}, read ${s.read}, write ${s.write}, timeout ${s.timeout}`);
    }
  }
  return out;
}

/** Columns padded to their widest cell; the first left-aligned, the others right-aligned. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((cells) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Plain-text tables, comparisons and goals for the console. */
export function renderText(report: BenchReport): string {
  const conns = report.environment.connections;
  const results = table([['', ...conns.flatMap((c) => METRICS.map((_, i) => (i === 0 ? `-c${c}` : '')))], ['target', ...conns.flatMap(() => METRICS)], ...resultRows(report)]);
  const compared = comparisonRows(report);
  const comparisons = compared.length > 0 ? [...table([['comparison', ...conns.map((c) => `-c${c}`)], ...compared]), ''] : [];
  return [...results, '', ...comparisons, ...report.goals.map(goalLine), ...problems(report)].join('\n') + '\n';
}

function markdownTable(header: string[], align: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** Markdown version with the environment, for bench/results/latest.md. */
export function renderMarkdown(report: BenchReport): string {
  const e = report.environment;
  const measured = new Map(report.results.map((r) => [r.target, r.measuredProcess]));
  const resultHeader = ['target', ...e.connections.flatMap((c) => METRICS.map((m) => `${m} -c${c}`)), 'measured process'];
  const comparisonHeader = ['comparison', ...e.connections.map((c) => `-c${c}`)];
  const compared = comparisonRows(report);
  return [
    '# airgate bench — latest run',
    '',
    `- date: ${e.date}`,
    `- node: ${e.node}`,
    `- wrk: ${e.wrk} (\`${e.wrkArgs}\`, ${e.durationSeconds} s per target and concurrency after a ${e.warmupSeconds} s warm-up; ${e.rounds} round(s) over every target, each row the round with the median CPU µs/req)`,
    `- haproxy: ${e.haproxy}`,
    `- nginx: ${e.nginx}`,
    `- nproc: ${e.nproc}; platform: ${e.platform}; CLK_TCK: ${e.clockTicksPerSecond}`,
    `- AIRGATE_UPSTREAM_CLIENT: ${e.upstreamClientEnv ?? 'unset (the airgate rows use the default client; airgate-undici sets upstream.client: undici)'}`,
    '',
    'All processes on 127.0.0.1; the upstream is one nginx worker answering `hello world\\n` (12 bytes).',
    'CPU µs/req is the utime+stime of the measured process (from /proc/<pid>/stat) over the wrk run divided by the requests wrk completed.',
    '',
    ...markdownTable(
      resultHeader,
      resultHeader.map((_, i) => (i === 0 || i === resultHeader.length - 1 ? '---' : '---:')),
      resultRows(report).map((r) => [...r, measured.get(r[0]!) ?? '']),
    ),
    '',
    ...(compared.length > 0 ? [...markdownTable(comparisonHeader, ['---', ...e.connections.map(() => '---:')], compared), ''] : []),
    ...report.goals.map((g) => `- **${goalLine(g)}**`),
    ...problems(report).map((p) => `\n> ${p}`),
    '',
  ].join('\n');
}
