import { JobMarkers } from '../../src/sdk';
import type { MetricDelta, SeriesFields } from './aggregate';
import { seriesCost } from './settings';
import type { MetricSpec } from './settings';
import type { MetricStore, StoreOptions } from './store';
import { JOB_MARKER_TTL_S } from './store';

/** Most job markers kept in memory; beyond it the oldest are forgotten first. */
export const MAX_MEMORY_JOB_MARKERS = 100_000;

interface Series {
  fields: Record<string, number>;
  lastSeen: number;
}

/**
 * The embedded-mode store: the same state and semantics as the Redis store, in this process's
 * memory (lost when the process or the handler goes). `now` is the clock, ms.
 */
export class MemoryMetricStore implements MetricStore {
  private readonly state = new Map<string, Map<string, Series>>();
  /** Bytes the series of each metric (same ids as `state`) cost, held against its budget. */
  private readonly cost = new Map<string, number>();
  private readonly overflow = new Map<string, number>();
  private readonly jobs: JobMarkers;
  private lastApply = 0;

  constructor(
    private readonly opts: StoreOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.jobs = new JobMarkers((opts.jobMarkerTtlS ?? JOB_MARKER_TTL_S) * 1000, MAX_MEMORY_JOB_MARKERS);
  }

  private seriesOf(metric: MetricSpec): Map<string, Series> {
    const id = `${metric.name}:${metric.schemaId}`;
    let s = this.state.get(id);
    if (!s) this.state.set(id, (s = new Map<string, Series>()));
    return s;
  }

  async apply(jobId: string, batch: readonly MetricDelta[]): Promise<boolean> {
    const t = this.now();
    if (!this.jobs.claim(jobId, t)) return false;
    this.lastApply = t;
    for (const md of batch) {
      const all = this.seriesOf(md.metric);
      const id = `${md.metric.name}:${md.metric.schemaId}`;
      for (const sd of md.series.values()) {
        let s = all.get(sd.key);
        if (!s) {
          const c = seriesCost(md.metric, Buffer.byteLength(sd.key));
          const used = this.cost.get(id) ?? 0;
          if (all.size >= this.opts.maxSeriesPerMetric || used + c > md.metric.budgetBytes) {
            this.overflow.set(md.metric.name, (this.overflow.get(md.metric.name) ?? 0) + sd.n);
            continue;
          }
          this.cost.set(id, used + c);
          all.set(sd.key, (s = { fields: {}, lastSeen: t }));
        }
        s.lastSeen = t;
        for (const [f, v] of sd.incr) s.fields[f] = (s.fields[f] ?? 0) + v;
        for (const [f, v] of sd.set) s.fields[f] = v;
      }
    }
    return true;
  }

  async read(metric: MetricSpec): Promise<Map<string, SeriesFields>> {
    const out = new Map<string, SeriesFields>();
    const all = this.state.get(`${metric.name}:${metric.schemaId}`);
    for (const [key, s] of all ?? []) out.set(key, { ...s.fields });
    return out;
  }

  async readOverflow(): Promise<Map<string, number>> {
    return new Map(this.overflow);
  }

  async sweep(metrics: readonly MetricSpec[], expiryMs: number): Promise<number> {
    if (expiryMs <= 0) return 0;
    const cutoff = this.now() - expiryMs;
    let removed = 0;
    for (const m of metrics) {
      const id = `${m.name}:${m.schemaId}`;
      const all = this.state.get(id);
      if (!all) continue;
      for (const [key, s] of all) {
        if (s.lastSeen < cutoff) {
          all.delete(key);
          this.cost.set(id, Math.max(0, (this.cost.get(id) ?? 0) - seriesCost(m, Buffer.byteLength(key))));
          removed++;
        }
      }
    }
    // As in Redis, where the overflow hash expires with the handler's last write.
    if (this.lastApply < cutoff) this.overflow.clear();
    return removed;
  }
}
