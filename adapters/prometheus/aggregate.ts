import { truncateLabelValue } from '../../src/sdk';
import type { InstanceValue } from '../../src/sdk';
import type { MetricSpec } from './settings';
import { safeLabelValue } from './label-value';

/**
 * Per-series state is a small record of numeric fields, the same in Redis and in memory:
 * `v` the value (COUNTER, GAUGE); `s` sum, `c` count and `b0` … `bN` the observations per
 * bucket, not cumulative, `bN` being +Inf (DISTRIBUTION). Absent fields are 0.
 */
export type SeriesFields = Readonly<Record<string, number>>;

/** Field names of the state (see {@link SeriesFields}). */
export const FIELD_VALUE = 'v';
export const FIELD_SUM = 's';
export const FIELD_COUNT = 'c';
/** Field of bucket `i` (0-based; `i === buckets.length` is +Inf). */
export const bucketField = (i: number): string => `b${i}`;

/** Label value used for a dimension that is absent. */
export const UNKNOWN = 'unknown';

/** What one batch does to one series: fields to add to, fields to overwrite, and how many instances it carries. */
export interface SeriesDelta {
  /** Label values in `labelNames` order, JSON-encoded: the series' identity. */
  readonly key: string;
  /** Instances aggregated into this delta (what the overflow counter counts when the series is refused). */
  n: number;
  readonly incr: Map<string, number>;
  readonly set: Map<string, number>;
}

/** The deltas of one metric in one batch. */
export interface MetricDelta {
  readonly metric: MetricSpec;
  readonly series: Map<string, SeriesDelta>;
}

/** Why an instance was not counted. */
export type DropReason = 'missing_value' | 'non_numeric_value' | 'negative_counter_value';

export interface Drop {
  readonly metric: string;
  readonly reason: DropReason;
  readonly instance: string;
}

/** A batch turned into deltas, ready to be applied in one step. */
export interface Aggregate {
  /** Only metrics with at least one series. */
  readonly batch: MetricDelta[];
  readonly drops: Drop[];
  /** Instances no metric takes (a config mistake), by name. */
  readonly unrouted: string[];
  /** Per metric name: instances with at least one label value cut to `maxLabelValueBytes`. */
  readonly truncated: Map<string, number>;
}

/** A finite number from a number or numeric text, else a reason it is unusable. */
export function numericValue(v: unknown): number | DropReason {
  if (v === undefined || v === null) return 'missing_value';
  if (typeof v === 'number') return Number.isFinite(v) ? v : 'non_numeric_value';
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  return 'non_numeric_value';
}

function rawLabelText(v: unknown): string {
  if (v === undefined || v === null) return UNKNOWN;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return JSON.stringify(
      Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, o[k]]),
      ),
    );
  }
  return String(v);
}

/** A series key and whether a value in it was cut. */
export interface SeriesKey {
  readonly key: string;
  readonly truncated: boolean;
}

/**
 * The series key of an instance: its dimensions in label order, absent ones "unknown", each value
 * cut to `maxLabelValueBytes` bytes of UTF-8 (see `truncateLabelValue` in the SDK).
 */
export function seriesKeyOf(labelNames: readonly string[], fields: Readonly<Record<string, unknown>>, maxLabelValueBytes = Infinity): SeriesKey {
  const d = fields.dimensions;
  const dims = typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {};
  let truncated = false;
  const values = labelNames.map((l) => {
    const text = safeLabelValue(rawLabelText(Object.hasOwn(dims, l) ? dims[l] : undefined));
    const cut = truncateLabelValue(text, maxLabelValueBytes);
    if (cut !== text) truncated = true;
    return cut;
  });
  return { key: JSON.stringify(values), truncated };
}

/** Index of the first bound ≥ `value` (`bounds.length` for +Inf). */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (value <= bounds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function sameLabels(a: readonly string[], b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const add = (m: Map<string, number>, field: string, by: number): void => void m.set(field, (m.get(field) ?? 0) + by);

/**
 * Folds a batch into per-series deltas: COUNTER adds `value`, GAUGE keeps the batch's last value,
 * DISTRIBUTION adds one observation (bucket, sum, count). An instance feeds every metric whose
 * `instance` is its name. Bad instances are reported in `drops`, never thrown. Label values longer
 * than `maxLabelValueBytes` are cut (counted in `truncated`).
 */
export function aggregate(
  instances: readonly InstanceValue[],
  byInstance: ReadonlyMap<string, readonly MetricSpec[]>,
  maxLabelValueBytes = Infinity,
): Aggregate {
  const deltas = new Map<MetricSpec, MetricDelta>();
  const drops: Drop[] = [];
  const unrouted: string[] = [];
  const truncated = new Map<string, number>();
  // Instances of one bag often share their dimensions object and label names (Istio's four
  // standard metrics do): the last series key is reused instead of encoded again.
  let lastDims: unknown;
  let lastLabels: readonly string[] | undefined;
  let lastKey: SeriesKey = { key: '', truncated: false };
  for (const inst of instances) {
    const metrics = byInstance.get(inst.name);
    if (!metrics) {
      unrouted.push(inst.name);
      continue;
    }
    const parsed = numericValue(inst.fields.value);
    for (const metric of metrics) {
      if (typeof parsed !== 'number') {
        drops.push({ metric: metric.name, reason: parsed, instance: inst.name });
        continue;
      }
      if (metric.kind === 'COUNTER' && parsed < 0) {
        drops.push({ metric: metric.name, reason: 'negative_counter_value', instance: inst.name });
        continue;
      }
      let md = deltas.get(metric);
      if (!md) deltas.set(metric, (md = { metric, series: new Map() }));
      const dims = inst.fields.dimensions;
      if (dims === undefined || dims !== lastDims || !sameLabels(metric.labelNames, lastLabels)) {
        lastKey = seriesKeyOf(metric.labelNames, inst.fields, maxLabelValueBytes);
        lastDims = dims;
        lastLabels = metric.labelNames;
      }
      const key = lastKey.key;
      if (lastKey.truncated) truncated.set(metric.name, (truncated.get(metric.name) ?? 0) + 1);
      let sd = md.series.get(key);
      if (!sd) md.series.set(key, (sd = { key, n: 0, incr: new Map(), set: new Map() }));
      sd.n += 1;
      if (metric.kind === 'COUNTER') add(sd.incr, FIELD_VALUE, parsed);
      else if (metric.kind === 'GAUGE') sd.set.set(FIELD_VALUE, parsed);
      else {
        add(sd.incr, bucketField(bucketIndex(metric.buckets, parsed)), 1);
        add(sd.incr, FIELD_SUM, parsed);
        add(sd.incr, FIELD_COUNT, 1);
      }
    }
  }
  return { batch: [...deltas.values()], drops, unrouted, truncated };
}

/** Every field a metric's series may hold (what a sweep deletes). */
export function fieldsOf(metric: MetricSpec): string[] {
  if (metric.kind !== 'DISTRIBUTION') return [FIELD_VALUE];
  return [FIELD_SUM, FIELD_COUNT, ...Array.from({ length: metric.buckets.length + 1 }, (_, i) => bucketField(i))];
}
