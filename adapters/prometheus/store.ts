import type { MetricDelta, SeriesFields } from './aggregate';
import type { MetricSpec } from './settings';

/** How long a job's "applied" marker is kept, seconds (see README.md, "Exactly once per job"). */
export const JOB_MARKER_TTL_S = 3600;

/**
 * Where a prometheus handler keeps its series: Redis (shared by every Mixer process) or memory
 * (embedded mode). Both give the same semantics; every method may be called concurrently.
 */
export interface MetricStore {
  /**
   * Applies one job's deltas and records the job as applied, atomically per metric. Resolves to
   * false, changing nothing, when `jobId` was already applied (a redelivery); after a partial
   * failure, a retry applies only the metrics the job has not yet applied. A new series of a
   * metric that already has `maxSeriesPerMetric` series, or whose cost (`seriesCost`) would take the
   * metric's series over its `budgetBytes`, is not created; its instances are added to that
   * metric's overflow count instead. Rejects (retryable) when the store cannot be reached;
   * then nothing was applied.
   */
  apply(jobId: string, batch: readonly MetricDelta[]): Promise<boolean>;
  /** The current series of `metric`: series key (JSON label values) → fields. */
  read(metric: MetricSpec): Promise<Map<string, SeriesFields>>;
  /** Instances refused by the cardinality cap, by metric name (of `metrics`), since the state began. */
  readOverflow(metrics: readonly MetricSpec[]): Promise<Map<string, number>>;
  /**
   * Removes the series of `metrics` not updated for `expiryMs`; resolves to how many it removed.
   * Idempotent and safe while other processes apply or sweep.
   */
  sweep(metrics: readonly MetricSpec[], expiryMs: number): Promise<number>;
}

/** Options shared by the stores. */
export interface StoreOptions {
  readonly maxSeriesPerMetric: number;
  /** Idle series expire after this many ms (0 = never); Redis keys get it as their TTL. */
  readonly expiryMs: number;
  /** Marker lifetime, seconds; default {@link JOB_MARKER_TTL_S}. */
  readonly jobMarkerTtlS?: number;
}
