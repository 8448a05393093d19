import { emptyStats, observe } from './stats';
import type { EdgeStats } from './stats';
import type { Observation } from './observation';
import { bucketTtlMs, LONGEST_WINDOW_MS, oldestReadable, RESOLUTIONS } from './windows';
import type { Resolution } from './windows';

/** The increments of one job for one time bucket. */
export interface BucketDelta {
  readonly resolution: Resolution;
  readonly index: number;
  /** `<resolution>:<index>`: unique per bucket, used in storage keys. */
  readonly id: string;
  /** How long the bucket must be kept after the job's `now`, ms. */
  readonly ttlMs: number;
  /** Edge id → increments. */
  readonly edges: Map<string, EdgeStats>;
}

/** A job's increments, bucket by bucket: what a store applies at once. */
export interface GraphDelta {
  readonly buckets: ReadonlyMap<string, BucketDelta>;
  /** Requests counted (each is in every resolution's bucket). */
  readonly requests: number;
}

/**
 * When a request is counted: its own time when that lies within the longest window (a time in the
 * future counts as `now`), else — no time, or older than the longest window — `now`.
 */
export function countedAt(time: number | undefined, now: number): number {
  if (time === undefined || time < now - LONGEST_WINDOW_MS) return now;
  return Math.min(time, now);
}

/**
 * Sums a batch of observations per time bucket and edge (one entry per bucket and edge). A request
 * goes into one bucket of each resolution that still serves a window at its time.
 */
export function aggregate(observations: readonly Observation[], now: number): GraphDelta {
  const buckets = new Map<string, BucketDelta>();
  for (const o of observations) {
    const at = countedAt(o.time, now);
    for (const res of RESOLUTIONS) {
      const index = Math.floor(at / res.bucketMs);
      // Too old for every window of this resolution (e.g. 10 min ago for the 10 s buckets).
      if (index < oldestReadable(res, now)) continue;
      const id = `${res.name}:${index}`;
      let b = buckets.get(id);
      if (!b) {
        b = { resolution: res, index, id, ttlMs: bucketTtlMs(res, index, now), edges: new Map() };
        buckets.set(id, b);
      }
      let s = b.edges.get(o.edgeId);
      if (!s) {
        s = emptyStats(o.protocol, o.source, o.target);
        b.edges.set(o.edgeId, s);
      }
      observe(s, o.isError, o.bytes, o.mtls, o.durationMs);
    }
  }
  return { buckets, requests: observations.length };
}
