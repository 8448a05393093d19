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
 * Names of the handler's Redis keys, all under `keyPrefix`. Each metric's keys share the hash tag
 * `{prom:<metric>}`: one slot per metric, so the apply script touches one slot on Redis Cluster and
 * the metrics of a mesh spread over the primaries. A job has one marker per metric, beside it.
 */
export class PrometheusKeys {
  constructor(private readonly keyPrefix: string) {}

  /** The part every key of `metric` starts with (its hash tag). */
  base(metric: string): string {
    return `${this.keyPrefix}{prom:${metric}}:`;
  }

  /** The "applied" marker of a job for one metric (a string with a TTL). */
  job(metric: string, jobId: string): string {
    return `${this.base(metric)}job:${jobId}`;
  }

  /** Hash: metric name → instances refused by the cardinality cap (one field: the metric's own). */
  overflow(metric: string): string {
    return `${this.base(metric)}overflow`;
  }

  /** Hash: `<field>:<seriesKey>` → number. */
  values(m: MetricSpec): string {
    return `${this.base(m.name)}m:${m.schemaId}:v`;
  }

  /** Sorted set: seriesKey → last update, ms (Redis server time). */
  seen(m: MetricSpec): string {
    return `${this.base(m.name)}m:${m.schemaId}:seen`;
  }

  /** String: bytes the metric's series cost in the exposition (held against its share of `maxScrapeBytes`). */
  cost(m: MetricSpec): string {
    return `${this.base(m.name)}m:${m.schemaId}:bytes`;
  }
}

/**
 * Series kept in Redis, shared by every Mixer process whose handler has the same key prefix
 * (the same handler name). A job is applied metric by metric, each by one Lua script together
 * with that metric's marker, so a retry after a partial failure applies only the metrics not yet
 * applied; then the process waits for the replicas of the primaries it wrote to (`awaitReplicas`),
 * so a failover after the job is done cannot take its counts back while its queue entry says done.
 * The connection belongs to the caller; this store never closes it.
 */
export class RedisMetricStore implements MetricStore {
  readonly keys: PrometheusKeys;
  private readonly scripts: PrometheusScripts;

  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly opts: StoreOptions,
    private readonly awaitReplicas: (key: string) => Promise<void> = () => Promise.resolve(),
  ) {
    this.keys = new PrometheusKeys(keyPrefix);
    this.scripts = definePrometheusScripts(redis);
  }

  async apply(jobId: string, batch: readonly MetricDelta[]): Promise<boolean> {
    const applied = await Promise.all(batch.map((md) => this.applyMetric(jobId, md)));
    await Promise.all(batch.map((md) => this.awaitReplicas(this.keys.job(md.metric.name, jobId))));
    return batch.length === 0 || applied.some(Boolean);
  }

  private async applyMetric(jobId: string, md: MetricDelta): Promise<boolean> {
    const m = md.metric;
    const keys = [this.keys.job(m.name, jobId), this.keys.overflow(m.name), this.keys.values(m), this.keys.seen(m), this.keys.cost(m)];
    const series: unknown[] = [];
    for (const sd of md.series.values()) {
      const incr = [...sd.incr].map(([f, v]) => [f, String(v)]);
      const set = [...sd.set].map(([f, v]) => [f, String(v)]);
      series.push([sd.key, sd.n, incr, set]);
    }
    const payload = [[m.name, series, String(m.budgetBytes), String(m.samplesPerSeries), String(m.sampleOverhead)]];
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

  async readOverflow(metrics: readonly MetricSpec[]): Promise<Map<string, number>> {
    const counts = await Promise.all(metrics.map((m) => this.redis.hget(this.keys.overflow(m.name), m.name)));
    return new Map(metrics.map((m, i) => [m.name, Number(counts[i] ?? 0)]));
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
