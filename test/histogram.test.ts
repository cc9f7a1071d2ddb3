import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { LabeledHistogram } from '../src/observability/histogram.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];
// On a bound, between bounds, above the last bound, zero, and a label value that needs escaping.
const OBSERVATIONS: [Record<'backend' | 'server', string>, number][] = [
  [{ backend: 'airflow', server: 'web-1' }, 0.005],
  [{ backend: 'airflow', server: 'web-1' }, 0.0051],
  [{ backend: 'airflow', server: 'web-2' }, 0],
  [{ backend: 'airflow', server: 'web-2' }, 200],
  [{ backend: 'air"flow\\', server: 'web-1' }, 2.5],
  [{ backend: 'airflow', server: 'web-1' }, 119.99],
];

type AnyRegistry = Registry<'text/plain; version=0.0.4; charset=utf-8'> | Registry<'application/openmetrics-text; version=1.0.0; charset=utf-8'>;

function both(openMetrics = false): { ours: AnyRegistry; theirs: AnyRegistry } {
  const ours: AnyRegistry = new Registry();
  const theirs: AnyRegistry = new Registry();
  if (openMetrics) for (const r of [ours, theirs]) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  const mine = new LabeledHistogram({ name: 'airgate_request_duration_seconds', help: 'Time from request arrival to the last response byte', buckets: BUCKETS, registry: ours as Registry });
  const reference = new Histogram({ name: 'airgate_request_duration_seconds', help: 'Time from request arrival to the last response byte', labelNames: ['backend', 'server'], buckets: BUCKETS, registers: [theirs] });
  for (const [labels, v] of OBSERVATIONS) {
    mine.child(labels).observe(v);
    reference.observe(labels, v);
  }
  return { ours, theirs };
}

test('the request-path histogram exports exactly what prom-client would, as text and as JSON', async () => {
  const { ours, theirs } = both();
  assert.equal(await ours.metrics(), await theirs.metrics());
  // As the JSON travels between workers (undefined fields dropped).
  const json = async (r: AnyRegistry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
  assert.deepEqual(await json(ours), await json(theirs));
  const open = both(true);
  assert.equal(await open.ours.metrics(), await open.theirs.metrics());
});

test("workers' request-path histograms merge as prom-client histograms do", async () => {
  const a = both();
  const b = both();
  const merged = await AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]).metrics();
  const reference = await AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]).metrics();
  assert.equal(merged, reference);
  assert.match(merged, /airgate_request_duration_seconds_count\{backend="airflow",server="web-1"\} 6/);
});

test('a child handed out keeps counting after a reset, and a non-finite value is ignored', async () => {
  const registry = new Registry();
  const h = new LabeledHistogram({ name: 'h_seconds', help: 'h', buckets: [1], registry });
  const c = h.child({ backend: 'b' });
  c.observe(0.5);
  c.observe(Number.NaN);
  c.observe(Number.POSITIVE_INFINITY);
  registry.resetMetrics();
  c.observe(2);
  const text = await registry.metrics();
  assert.match(text, /h_seconds_bucket\{le="1",backend="b"\} 0\n/);
  assert.match(text, /h_seconds_bucket\{le="\+Inf",backend="b"\} 1\n/);
  assert.match(text, /h_seconds_sum\{backend="b"\} 2\n/);
  assert.match(text, /h_seconds_count\{backend="b"\} 1/);
});
