import type { RedisConnection } from '../../src/sdk';
import { createHash } from 'node:crypto';
import type { MetricDelta, SeriesDelta, SeriesFields } from './aggregate';
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
 * the metrics of a mesh spread over the primaries. A metric with `redisShards` > 1 has its series
 * spread over that many tags, `{prom:<metric>}` then `{prom:<metric>#1}` …, by a hash of the series.
 * The ids of the jobs applied to a metric's shard are kept beside its state (`jobs`).
 */
export class PrometheusKeys {
  constructor(private readonly keyPrefix: string) {}

  /** The part every key of `metric`'s shard `shard` starts with (its hash tag). */
  base(metric: string, shard = 0): string {
    return `${this.keyPrefix}{prom:${metric}${shard === 0 ? '' : `#${shard}`}}:`;
  }

  /** Sorted set: id of a job applied to this metric's shard → when (ms, Redis server time); see `CLAIM_JOB_LUA`. */
  jobs(metric: string, shard = 0): string {
    return `${this.base(metric, shard)}jobs`;
  }

  /** Hash: metric name → instances refused by the cardinality cap (one field: the metric's own). */
  overflow(metric: string, shard = 0): string {
    return `${this.base(metric, shard)}overflow`;
  }

  /** Hash: `<field>:<seriesKey>` → number. */
  values(m: MetricSpec, shard = 0): string {
    return `${this.base(m.name, shard)}m:${m.schemaId}:v`;
  }

  /** Sorted set: seriesKey → last update, ms (Redis server time). */
  seen(m: MetricSpec, shard = 0): string {
    return `${this.base(m.name, shard)}m:${m.schemaId}:seen`;
  }

  /** String: bytes the metric's series cost in the exposition (held against its share of `maxScrapeBytes`). */
  cost(m: MetricSpec, shard = 0): string {
    return `${this.base(m.name, shard)}m:${m.schemaId}:bytes`;
  }
}

/** The shard of a series of a metric with `shards` shards: a hash of its key, the same in every process. */
export function seriesShard(seriesKey: string, shards: number): number {
  return shards <= 1 ? 0 : createHash('sha1').update(seriesKey).digest().readUInt32BE(0) % shards;
}

const shardsOf = (m: MetricSpec): number[] => Array.from({ length: Math.max(1, m.shards) }, (_, i) => i);

/**
 * Series kept in Redis, shared by every Mixer process whose handler has the same key prefix
 * (the same handler name). A job is applied metric by metric (and shard by shard), each by one Lua
 * script together with the job's claim in that shard's `jobs` set, so a retry after a partial failure applies only what
 * was not yet applied; then the process waits for the replicas of the primaries it wrote to
 * (`awaitReplicas`), so a failover after the job is done cannot take its counts back while its
 * queue entry says done. A shard holds at most its even part of `maxSeriesPerMetric` and of the
 * metric's byte budget. The connection belongs to the caller; this store never closes it.
 */
export class RedisMetricStore implements MetricStore {
  readonly keys: PrometheusKeys;
  private readonly scripts: PrometheusScripts;

  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly opts: StoreOptions,
    private readonly awaitReplicas: (...keys: string[]) => Promise<void> = () => Promise.resolve(),
  ) {
    this.keys = new PrometheusKeys(keyPrefix);
    this.scripts = definePrometheusScripts(redis);
  }

  async apply(jobId: string, batch: readonly MetricDelta[]): Promise<boolean> {
    const parts: Array<{ md: MetricDelta; shard: number; series: SeriesDelta[] }> = [];
    for (const md of batch) {
      const byShard = new Map<number, SeriesDelta[]>();
      for (const sd of md.series.values()) {
        const shard = seriesShard(sd.key, md.metric.shards);
        const list = byShard.get(shard);
        if (list) list.push(sd);
        else byShard.set(shard, [sd]);
      }
      if (byShard.size === 0) byShard.set(0, []);
      for (const [shard, series] of byShard) parts.push({ md, shard, series });
    }
    const applied = await Promise.all(parts.map((p) => this.applyPart(jobId, p.md, p.shard, p.series)));
    await this.awaitReplicas(...parts.map((p) => this.keys.jobs(p.md.metric.name, p.shard)));
    return parts.length === 0 || applied.some(Boolean);
  }

  private async applyPart(jobId: string, md: MetricDelta, shard: number, deltas: readonly SeriesDelta[]): Promise<boolean> {
    const m = md.metric;
    const n = Math.max(1, m.shards);
    const keys = [
      this.keys.jobs(m.name, shard),
      this.keys.overflow(m.name, shard),
      this.keys.values(m, shard),
      this.keys.seen(m, shard),
      this.keys.cost(m, shard),
    ];
    const series: unknown[] = [];
    for (const sd of deltas) {
      const incr = [...sd.incr].map(([f, v]) => [f, String(v)]);
      const set = [...sd.set].map(([f, v]) => [f, String(v)]);
      series.push([sd.key, sd.n, incr, set]);
    }
    const payload = [[m.name, series, String(Math.floor(m.budgetBytes / n)), String(m.samplesPerSeries), String(m.sampleOverhead)]];
    const args = [
      String(this.opts.jobMarkerTtlS ?? JOB_MARKER_TTL_S),
      String(this.opts.expiryMs),
      String(Math.ceil(this.opts.maxSeriesPerMetric / n)),
      JSON.stringify(payload),
      jobId,
    ];
    return (await this.scripts.apply(keys, args)) === 1;
  }

  async read(metric: MetricSpec): Promise<Map<string, SeriesFields>> {
    const out = new Map<string, Record<string, number>>();
    const all = await Promise.all(shardsOf(metric).map((shard) => this.redis.hgetall(this.keys.values(metric, shard))));
    for (const raw of all) {
      for (const [field, text] of Object.entries(raw)) {
        const colon = field.indexOf(':');
        if (colon < 0) continue;
        const key = field.slice(colon + 1);
        let rec = out.get(key);
        if (!rec) out.set(key, (rec = {}));
        rec[field.slice(0, colon)] = Number(text);
      }
    }
    return out;
  }

  async readOverflow(metrics: readonly MetricSpec[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await Promise.all(
      metrics.map(async (m) => {
        const counts = await Promise.all(shardsOf(m).map((shard) => this.redis.hget(this.keys.overflow(m.name, shard), m.name)));
        out.set(
          m.name,
          counts.reduce((sum, c) => sum + Number(c ?? 0), 0),
        );
      }),
    );
    return out;
  }

  async sweep(metrics: readonly MetricSpec[], expiryMs: number): Promise<number> {
    if (expiryMs <= 0) return 0;
    let removed = 0;
    for (const m of metrics) {
      const args = [String(expiryMs), String(SWEEP_CHUNK), String(m.samplesPerSeries), String(m.sampleOverhead), ...fieldsOf(m)];
      for (const shard of shardsOf(m)) {
        for (;;) {
          const n = Number(await this.scripts.sweep(this.keys.values(m, shard), this.keys.seen(m, shard), this.keys.cost(m, shard), args));
          removed += n;
          if (n < SWEEP_CHUNK) break;
        }
      }
    }
    return removed;
  }
}
