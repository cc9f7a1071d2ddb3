import type { Metric, Registry } from 'prom-client';

/** One label set's observations: per-bucket counts (not cumulative), sum and count. */
export class HistogramCounts {
  readonly labels: Readonly<Record<string, string>>;
  private readonly bounds: readonly number[];
  /** `counts[i]`: observations in (bounds[i-1], bounds[i]]; above the last bound only `count` grows. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[], labels: Readonly<Record<string, string>>) {
    this.bounds = bounds;
    this.labels = labels;
    this.counts = new Float64Array(bounds.length);
  }

  /** Request path: a scan of at most a dozen bounds and three additions; a non-finite value is ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  /** prom-client sets it (null) on bucket lines. */
  exemplar?: null;
}

/**
 * A Prometheus histogram whose request-path cost is `HistogramCounts.observe`: the label set is
 * resolved once (`child`) and kept by the caller, where prom-client's `observe` validates and
 * hashes the labels on every call. It registers with a prom-client registry as a metric of its
 * own and exports exactly what prom-client's Histogram would: cumulative `_bucket` lines with
 * `le` first, `+Inf`, `_sum` and `_count`, summed across workers.
 */
export class LabeledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private readonly children = new Map<string, HistogramCounts>();

  constructor(options: { name: string; help: string; buckets: readonly number[]; registry: Registry }) {
    this.name = options.name;
    this.help = options.help;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    options.registry.registerMetric(this as unknown as Metric);
  }

  /** The counts of one label set (created on first use; call once and keep the result). */
  child(labels: Readonly<Record<string, string>>): HistogramCounts {
    const key = JSON.stringify(labels);
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = new HistogramCounts(this.bounds, { ...labels })));
    return c;
  }

  /** prom-client's text export: `le` as the line's own label, the label set shared. */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: c.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: c.labels, value: c.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** prom-client's JSON export (workers' metrics are merged from it): the label sets spread into each value's labels. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const data = this.getForPromString();
    data.values = data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return Promise.resolve(data);
  }

  /** Zero every count in place (children handed out stay valid). */
  reset(): void {
    for (const c of this.children.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
