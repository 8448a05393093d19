import { createHash } from 'node:crypto';
import { parseDuration } from '../../src/sdk';
import type { ErrorDetail } from '../../src/sdk';
import { DEFAULT_MAX_LABEL_VALUE_LENGTH, DEFAULT_MAX_SCRAPE_BYTES } from './config';
import type { BucketsConfig, MetricKind, PrometheusConfig } from './config';

/** Prometheus' default histogram buckets, used by a DISTRIBUTION without `buckets`. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** Per-process counter of skipped instances, `{metric, reason}`; configured metrics may not use the name. */
export const DROPPED_METRIC = 'mixer_prometheus_dropped_total';
/** Stored counter of instances refused by the cardinality cap, `{metric}`; configured metrics may not use the name. */
export const OVERFLOW_METRIC = 'mixer_prometheus_series_overflow_total';
/** Per-process counter of label values cut to `maxLabelValueLength`, `{metric}`; configured metrics may not use the name. */
export const TRUNCATED_METRIC = 'mixer_prometheus_label_values_truncated_total';

/** Typical label value length, bytes: weighs the metrics' shares of `maxScrapeBytes`. */
const TYPICAL_VALUE_BYTES = 24;

/** One configured metric, resolved: instance reference made absolute, buckets computed. */
export interface MetricSpec {
  readonly name: string;
  /** The feeding instance, `namespace/name`. */
  readonly instance: string;
  readonly kind: MetricKind;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Finite upper bounds, strictly ascending (DISTRIBUTION only; empty otherwise). */
  readonly buckets: readonly number[];
  /**
   * Short hash of kind, labels and buckets: stored state is keyed by it, so a metric whose shape
   * changes starts afresh instead of misreading old series.
   */
  readonly schemaId: string;
  /** Samples one series renders: 1, or a histogram's buckets, +Inf, `_sum` and `_count`. */
  readonly samplesPerSeries: number;
  /** Bytes one sample renders besides its label values (name, label names, quotes, `le`, value, newline): an upper estimate. */
  readonly sampleOverhead: number;
  /**
   * This metric's share of `maxScrapeBytes`. A series costs `samplesPerSeries × (sampleOverhead +
   * bytes of its series key)` (the key's JSON is never shorter than the rendered values); the
   * series of a metric together never cost more than this.
   */
  readonly budgetBytes: number;
  /** Redis hash slots the series are spread over (`redisShards`, default 1). */
  readonly shards: number;
}

/** What one series of `metric` costs in the exposition, bytes (see {@link MetricSpec.budgetBytes}); `keyBytes` is its key's UTF-8 length. */
export function seriesCost(metric: Pick<MetricSpec, 'samplesPerSeries' | 'sampleOverhead'>, keyBytes: number): number {
  return metric.samplesPerSeries * (metric.sampleOverhead + keyBytes);
}

/** The handler's params, checked and resolved. Durations are milliseconds. */
export interface PrometheusSettings {
  readonly metrics: readonly MetricSpec[];
  /** 0 = series never expire. */
  readonly expiryMs: number;
  readonly expiryCheckIntervalMs: number;
  readonly maxSeriesPerMetric: number;
  /** Longest label value, bytes (`maxLabelValueLength`). */
  readonly maxLabelValueBytes: number;
  /** Most bytes the handler's metrics render on one scrape (`maxScrapeBytes`). */
  readonly maxScrapeBytes: number;
}

/** Thrown by {@link resolvePrometheusConfig}; lists every problem. */
export class PrometheusConfigError extends Error {
  constructor(readonly details: readonly ErrorDetail[]) {
    super(`invalid prometheus params: ${details.map((d) => `${d.field}: ${d.reason}`).join('; ')}`);
    this.name = 'PrometheusConfigError';
  }
}

function bucketsOf(def: BucketsConfig): number[] {
  if (Array.isArray(def)) return [...def];
  if ('explicitBuckets' in def) return [...def.explicitBuckets.bounds];
  if ('linearBuckets' in def) {
    const { numFiniteBuckets: n, width, offset = 0 } = def.linearBuckets;
    return Array.from({ length: n }, (_, i) => offset + width * i);
  }
  const { numFiniteBuckets: n, growthFactor, scale } = def.exponentialBuckets;
  return Array.from({ length: n }, (_, i) => scale * growthFactor ** i);
}

function durationMs(text: string | undefined, fallback: string): number {
  const ms = parseDuration(text ?? fallback);
  return ms === undefined || ms < 0 ? NaN : ms;
}

/** Every name a metric occupies in the exposition (a histogram also has `_bucket`, `_sum`, `_count`). */
function exposedNames(name: string, kind: MetricKind): string[] {
  return kind === 'DISTRIBUTION' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

/**
 * Checks what the schema cannot (unique and non-clashing names, reserved or duplicate labels,
 * ascending finite buckets, a usable expiry interval) and resolves the params. Short instance
 * names resolve in `namespace` (the handler's). Returns every problem, each with its path under
 * `params`, or the settings.
 */
export function checkPrometheusConfig(config: PrometheusConfig, namespace: string): { settings?: PrometheusSettings; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const fail = (field: string, reason: string): void => void errors.push({ field: `params.${field}`, reason });
  const taken = new Map<string, string>([
    [DROPPED_METRIC, 'the adapter itself'],
    [OVERFLOW_METRIC, 'the adapter itself'],
    [TRUNCATED_METRIC, 'the adapter itself'],
  ]);
  const metrics: Array<Omit<MetricSpec, 'budgetBytes'>> = [];
  (config.metrics ?? []).forEach((m, i) => {
    const at = `metrics[${i}]`;
    const before = errors.length;
    for (const n of exposedNames(m.name, m.kind)) {
      const owner = taken.get(n);
      if (owner !== undefined) fail(`${at}.name`, `${n} is already used by ${owner}`);
    }
    for (const n of exposedNames(m.name, m.kind)) if (!taken.has(n)) taken.set(n, at);
    const labelNames = m.labelNames ?? [];
    const seen = new Set<string>();
    labelNames.forEach((l, j) => {
      if (l.startsWith('__')) fail(`${at}.labelNames[${j}]`, `label names starting with "__" are reserved by Prometheus`);
      if (l === 'le' && m.kind === 'DISTRIBUTION') fail(`${at}.labelNames[${j}]`, '"le" is the bucket label of a histogram');
      if (seen.has(l)) fail(`${at}.labelNames[${j}]`, `duplicate label ${JSON.stringify(l)}`);
      seen.add(l);
    });
    let buckets: number[] = [];
    if (m.kind === 'DISTRIBUTION') {
      buckets = m.buckets === undefined ? [...DEFAULT_BUCKETS] : bucketsOf(m.buckets);
      buckets.forEach((b, j) => {
        if (!Number.isFinite(b)) fail(`${at}.buckets`, `bound ${j} is not finite (+Inf is always added)`);
        else if (j > 0 && !(b > buckets[j - 1])) fail(`${at}.buckets`, `bounds must be strictly ascending: ${buckets[j - 1]} then ${b}`);
      });
    } else if (m.buckets !== undefined) {
      fail(`${at}.buckets`, `buckets apply only to DISTRIBUTION metrics, not ${m.kind}`);
    }
    if (errors.length > before) return;
    const instance = m.instanceName.includes('/') ? m.instanceName : `${namespace}/${m.instanceName}`;
    const schemaId = createHash('sha256')
      .update(JSON.stringify([m.kind, labelNames, buckets]))
      .digest('hex')
      .slice(0, 8);
    const samplesPerSeries = m.kind === 'DISTRIBUTION' ? buckets.length + 3 : 1;
    // `name_bucket{` … `}`, each `label="",`, `le="<bound>",`, ` <value>\n`.
    const sampleOverhead = m.name.length + 10 + labelNames.reduce((n, l) => n + l.length + 4, 0) + (m.kind === 'DISTRIBUTION' ? 32 : 0) + 32;
    metrics.push({
      name: m.name,
      instance,
      kind: m.kind,
      help: m.description || `${m.name} (${m.kind.toLowerCase()})`,
      labelNames: Object.freeze([...labelNames]),
      buckets: Object.freeze(buckets),
      schemaId,
      samplesPerSeries,
      sampleOverhead,
      shards: m.redisShards ?? 1,
    });
  });
  const maxScrapeBytes = config.maxScrapeBytes ?? DEFAULT_MAX_SCRAPE_BYTES;
  const weight = (m: Omit<MetricSpec, 'budgetBytes'>): number => seriesCost(m, m.labelNames.length * TYPICAL_VALUE_BYTES);
  const totalWeight = metrics.reduce((n, m) => n + weight(m), 0);
  const specs = metrics.map((m) => Object.freeze({ ...m, budgetBytes: Math.floor((maxScrapeBytes * weight(m)) / totalWeight) }));

  const policy = config.metricsExpirationPolicy ?? {};
  const expiryMs = durationMs(policy.metricsExpiryDuration, '10m');
  const expiryCheckIntervalMs = durationMs(policy.expiryCheckIntervalDuration, '1m');
  if (Number.isNaN(expiryMs)) fail('metricsExpirationPolicy.metricsExpiryDuration', 'must be a duration such as "10m"');
  if (Number.isNaN(expiryCheckIntervalMs)) fail('metricsExpirationPolicy.expiryCheckIntervalDuration', 'must be a duration such as "1m"');
  else if (expiryMs > 0 && expiryCheckIntervalMs < 1) fail('metricsExpirationPolicy.expiryCheckIntervalDuration', 'must be at least 1ms when metrics expire');
  if (errors.length > 0) return { errors };
  const settings: PrometheusSettings = {
    metrics: Object.freeze(specs),
    expiryMs,
    expiryCheckIntervalMs,
    maxSeriesPerMetric: config.maxSeriesPerMetric ?? 10_000,
    maxLabelValueBytes: config.maxLabelValueLength ?? DEFAULT_MAX_LABEL_VALUE_LENGTH,
    maxScrapeBytes,
  };
  return { settings: Object.freeze(settings), errors };
}

/** {@link checkPrometheusConfig}, throwing a {@link PrometheusConfigError} with every problem. */
export function resolvePrometheusConfig(config: PrometheusConfig, namespace: string): PrometheusSettings {
  const { settings, errors } = checkPrometheusConfig(config, namespace);
  if (!settings) throw new PrometheusConfigError(errors);
  return settings;
}
