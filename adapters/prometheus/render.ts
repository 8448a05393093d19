import type { Metric, Registry } from 'prom-client';
import type { SeriesFields } from './aggregate';
import { FIELD_COUNT, FIELD_SUM, FIELD_VALUE, bucketField } from './aggregate';
import type { MetricSpec } from './settings';
import { OVERFLOW_METRIC, seriesCost } from './settings';
import { safeLabelValue } from './label-value';
import type { MetricStore } from './store';

/** One sample, as prom-client's registry renders it (`metricName` defaults to the metric's name). */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's `Registry` reads from a registered metric on every scrape. */
export interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

/** Called when reading the store fails during a scrape (the metric then renders no samples). */
export type RenderErrorSink = (err: unknown, metric: string) => void;

const TYPE_OF = { COUNTER: 'counter', GAUGE: 'gauge', DISTRIBUTION: 'histogram' } as const;

function labelsOf(metric: MetricSpec, key: string): Record<string, string> | undefined {
  let values: unknown;
  try {
    values = JSON.parse(key);
  } catch {
    return undefined;
  }
  if (!Array.isArray(values) || values.length !== metric.labelNames.length) return undefined;
  const labels: Record<string, string> = {};
  // Series stored before values were cleaned on write may still hold control characters.
  metric.labelNames.forEach((l, i) => (labels[l] = safeLabelValue(String(values[i]))));
  return labels;
}

/**
 * The samples of one metric from its stored series, in series-key order. A histogram gives,
 * per series, cumulative `_bucket{le}` samples (each finite bound, then `+Inf`), `_sum` and `_count`.
 */
export function samplesOf(metric: MetricSpec, series: ReadonlyMap<string, SeriesFields>): Sample[] {
  const out: Sample[] = [];
  const keys = [...series.keys()].sort();
  for (const key of keys) {
    const labels = labelsOf(metric, key);
    if (!labels) continue;
    const f = series.get(key)!;
    if (metric.kind !== 'DISTRIBUTION') {
      out.push({ labels, value: f[FIELD_VALUE] ?? 0 });
      continue;
    }
    let acc = 0;
    metric.buckets.forEach((bound, i) => {
      acc += f[bucketField(i)] ?? 0;
      out.push({ labels: { ...labels, le: bound }, value: acc, metricName: `${metric.name}_bucket` });
    });
    acc += f[bucketField(metric.buckets.length)] ?? 0;
    out.push({ labels: { ...labels, le: '+Inf' }, value: acc, metricName: `${metric.name}_bucket` });
    out.push({ labels, value: f[FIELD_SUM] ?? 0, metricName: `${metric.name}_sum` });
    out.push({ labels, value: f[FIELD_COUNT] ?? 0, metricName: `${metric.name}_count` });
  }
  return out;
}

/**
 * The series of `metric` that fit its `budgetBytes`, taken in series-key order, and how many did
 * not. The stores refuse series beyond the budget; this holds the bound on a scrape even for state
 * the stores did not check (written under other settings, or by an earlier release).
 */
export function withinBudget(metric: MetricSpec, series: ReadonlyMap<string, SeriesFields>): { series: Map<string, SeriesFields>; skipped: number } {
  const kept = new Map<string, SeriesFields>();
  let used = 0;
  let skipped = 0;
  for (const key of [...series.keys()].sort()) {
    const c = seriesCost(metric, Buffer.byteLength(key));
    if (used + c > metric.budgetBytes) {
      skipped++;
      continue;
    }
    used += c;
    kept.set(key, series.get(key)!);
  }
  return { series: kept, skipped };
}

/** Called when a scrape leaves out series over a metric's budget. */
export type OverBudgetSink = (metric: string, skipped: number) => void;

/** A metric whose samples are read from the store on every scrape (a prom-client custom collector). */
class StoredMetric {
  readonly aggregator = 'sum' as const;
  readonly type: CollectedMetric['type'];
  name: string;
  readonly help: string;

  constructor(
    private readonly metric: MetricSpec,
    private readonly store: MetricStore,
    private readonly onError: RenderErrorSink,
    private readonly onOverBudget: OverBudgetSink,
  ) {
    this.name = metric.name;
    this.help = metric.help;
    this.type = TYPE_OF[metric.kind];
  }

  async get(): Promise<CollectedMetric> {
    let values: Sample[] = [];
    try {
      const { series, skipped } = withinBudget(this.metric, await this.store.read(this.metric));
      if (skipped > 0) this.onOverBudget(this.metric.name, skipped);
      values = samplesOf(this.metric, series);
    } catch (err) {
      this.onError(err, this.metric.name);
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's `Registry.resetMetrics` calls this; stored state is not the registry's to reset. */
  reset(): void {}
}

/** `mixer_prometheus_series_overflow_total{metric}`, read from the store: one sample per configured metric. */
class OverflowMetric {
  readonly aggregator = 'sum' as const;
  readonly type = 'counter' as const;
  name = OVERFLOW_METRIC;
  readonly help =
    'Instances not counted because their series would be new and their metric already had maxSeriesPerMetric series or no room left in its share of maxScrapeBytes (mesh-wide with Redis).';

  constructor(
    private readonly metrics: readonly MetricSpec[],
    private readonly store: MetricStore,
    private readonly onError: RenderErrorSink,
  ) {}

  async get(): Promise<CollectedMetric> {
    let values: Sample[] = [];
    try {
      const counts = await this.store.readOverflow(this.metrics);
      values = this.metrics.map((m) => ({ labels: { metric: m.name }, value: counts.get(m.name) ?? 0 }));
    } catch (err) {
      this.onError(err, OVERFLOW_METRIC);
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

/**
 * Registers, in `registry`, one collector per configured metric plus the overflow counter, each
 * reading the store when the registry renders; a metric renders at most its `budgetBytes` of series
 * (`onOverBudget` hears of any left out). Returns a function that unregisters them.
 */
export function registerStoredMetrics(
  registry: Registry,
  metrics: readonly MetricSpec[],
  store: MetricStore,
  onError: RenderErrorSink,
  onOverBudget: OverBudgetSink = () => undefined,
): () => void {
  const collectors = [...metrics.map((m) => new StoredMetric(m, store, onError, onOverBudget)), new OverflowMetric(metrics, store, onError)];
  // Names as registered: an OpenMetrics registry renames counters in place while rendering.
  const registered = collectors.map((c) => [c.name, c] as const);
  for (const c of collectors) registry.registerMetric(c as unknown as Metric<string>);
  return () => {
    for (const [name, c] of registered) if (registry.getSingleMetric(name) === (c as unknown)) registry.removeSingleMetric(name);
  };
}
