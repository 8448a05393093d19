import type { RedisConnection } from '../../src/sdk';
import type { MetricDelta, SeriesFields } from './aggregate';
import { fieldsOf } from './aggregate';
import { definePrometheusScripts } from './redis-scripts';
import type { PrometheusScripts } from './redis-scripts';
import type { MetricSpec } from './settings';
import type { MetricStore, StoreOptions } from './store';
import { JOB_MARKER_TTL_S } from './store';

/** Most series one sweep call removes per metric (a sweep loops until it removes fewer). */
const SWEEP_CHUNK = 1000;

/**
 * Names of the handler's Redis keys, all under `keyPrefix` and sharing the hash tag `{prom}`
 * (one slot, so the apply script may touch them together on Redis Cluster).
 */
export class PrometheusKeys {
  readonly base: string;

  constructor(keyPrefix: string) {
    this.base = `${keyPrefix}{prom}:`;
  }

  /** The "applied" marker of a job (a string with a TTL). */
  job(jobId: string): string {
    return `${this.base}job:${jobId}`;
  }

  /** Hash: metric name → instances refused by the cardinality cap. */
  overflow(): string {
    return `${this.base}overflow`;
  }

  /** Hash: `<field>:<seriesKey>` → number. */
  values(m: MetricSpec): string {
    return `${this.base}m:${m.name}:${m.schemaId}:v`;
  }

  /** Sorted set: seriesKey → last update, ms (Redis server time). */
  seen(m: MetricSpec): string {
    return `${this.base}m:${m.name}:${m.schemaId}:seen`;
  }

  /** String: bytes the metric's series cost in the exposition (held against its share of `maxScrapeBytes`). */
  cost(m: MetricSpec): string {
    return `${this.base}m:${m.name}:${m.schemaId}:bytes`;
  }
}

/**
 * Series kept in Redis, shared by every Mixer process whose handler has the same key prefix
 * (the same handler name). Each job is applied by one Lua script together with its marker.
 * The connection belongs to the caller; this store never closes it.
 */
export class RedisMetricStore implements MetricStore {
  readonly keys: PrometheusKeys;
  private readonly scripts: PrometheusScripts;

  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly opts: StoreOptions,
  ) {
    this.keys = new PrometheusKeys(keyPrefix);
    this.scripts = definePrometheusScripts(redis);
  }

  async apply(jobId: string, batch: readonly MetricDelta[]): Promise<boolean> {
    const keys = [this.keys.job(jobId), this.keys.overflow()];
    const payload: unknown[] = [];
    for (const md of batch) {
      keys.push(this.keys.values(md.metric), this.keys.seen(md.metric), this.keys.cost(md.metric));
      const series: unknown[] = [];
      for (const sd of md.series.values()) {
        const incr = [...sd.incr].map(([f, v]) => [f, String(v)]);
        const set = [...sd.set].map(([f, v]) => [f, String(v)]);
        series.push([sd.key, sd.n, incr, set]);
      }
      const m = md.metric;
      payload.push([m.name, series, String(m.budgetBytes), String(m.samplesPerSeries), String(m.sampleOverhead)]);
    }
    const args = [
      String(this.opts.jobMarkerTtlS ?? JOB_MARKER_TTL_S),
      String(this.opts.expiryMs),
      String(this.opts.maxSeriesPerMetric),
      JSON.stringify(payload),
    ];
    return (await this.scripts.apply(keys, args)) === 1;
  }

  async read(metric: MetricSpec): Promise<Map<string, SeriesFields>> {
    const raw = await this.redis.hgetall(this.keys.values(metric));
    const out = new Map<string, Record<string, number>>();
    for (const [field, text] of Object.entries(raw)) {
      const colon = field.indexOf(':');
      if (colon < 0) continue;
      const key = field.slice(colon + 1);
      let rec = out.get(key);
      if (!rec) out.set(key, (rec = {}));
      rec[field.slice(0, colon)] = Number(text);
    }
    return out;
  }

  async readOverflow(): Promise<Map<string, number>> {
    const raw = await this.redis.hgetall(this.keys.overflow());
    return new Map(Object.entries(raw).map(([m, n]) => [m, Number(n)]));
  }

  async sweep(metrics: readonly MetricSpec[], expiryMs: number): Promise<number> {
    if (expiryMs <= 0) return 0;
    let removed = 0;
    for (const m of metrics) {
      const args = [String(expiryMs), String(SWEEP_CHUNK), String(m.samplesPerSeries), String(m.sampleOverhead), ...fieldsOf(m)];
      for (;;) {
        const n = Number(await this.scripts.sweep(this.keys.values(m), this.keys.seen(m), this.keys.cost(m), args));
        removed += n;
        if (n < SWEEP_CHUNK) break;
      }
    }
    return removed;
  }
}
