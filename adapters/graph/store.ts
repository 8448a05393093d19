/**
 * Where graph counts live: the store contract, and the in-memory store used without Redis
 * (embedded mode). The Redis store is in `redis-store.ts`.
 */
import { JobMarkers } from '../../src/sdk';
import { cloneStats, mergeOlderStats, mergeStats } from './stats';
import type { EdgeStats } from './stats';
import type { GraphDelta } from './aggregate';
import { oldestReadable, RESOLUTIONS } from './windows';
import type { WindowRange } from './windows';

/** What applying one job did. */
export interface ApplyOutcome {
  /** False when the job had been applied before (a redelivery): nothing was counted. */
  applied: boolean;
  /** Edge entries not counted because their bucket already held `maxEdges` other edges or `maxBucketBytes`. */
  droppedEdges: number;
}

/** Keeps the graph's time buckets. Every method may reject (e.g. Redis is down); nothing is half-applied. */
export interface GraphStore {
  /**
   * Applies a job's increments once: when `jobId` was applied within the last
   * {@link JOB_MARKER_TTL_MS} nothing changes (`applied: false`); else all increments are applied
   * together. `now` is the epoch ms the delta was built at.
   */
  apply(jobId: string, delta: GraphDelta, now: number): Promise<ApplyOutcome>;
  /**
   * Edge id → stats summed over the buckets of `range` (copies the caller may change); at most
   * `maxEdges` edges, those of the newest buckets first.
   */
  read(range: WindowRange, now: number): Promise<Map<string, EdgeStats>>;
  /**
   * Claims request ids for `jobId`: returns those now owned by this job (claimed by it now or
   * earlier, so a redelivered job owns the same ids again); ids another job claimed within
   * {@link REQUEST_CLAIM_TTL_MS} are not returned. This is how a request reported by both sides counts once.
   */
  claimRequests(jobId: string, requestIds: readonly string[], now: number): Promise<Set<string>>;
}

/** How long a request id stays claimed, ms: 10 min, far longer than the gap between the two sides' reports. */
export const REQUEST_CLAIM_TTL_MS = 10 * 60_000;

/** Most request ids the memory store remembers; the oldest are forgotten first. */
export const MAX_MEMORY_CLAIMS = 200_000;

/**
 * How long a job id is remembered, ms: 2 h, longer than the longest window. A request older than
 * the longest window is counted at apply time, so a redelivery later than this could count it again;
 * the queue redelivers unacknowledged jobs within minutes.
 */
export const JOB_MARKER_TTL_MS = 2 * 3_600_000;

/** Most job ids the memory store remembers; the oldest are forgotten first. */
export const MAX_MEMORY_MARKERS = 100_000;

/**
 * Graph buckets in this process's memory, with the same once-per-job semantics as Redis. Bounded:
 * buckets no window can read are dropped on every apply and read, each bucket holds at most
 * `maxEdges` edges, and at most {@link MAX_MEMORY_MARKERS} job ids are remembered.
 */
export class MemoryGraphStore implements GraphStore {
  /** `<resolution>:<index>` → edge id → stats. */
  private readonly buckets = new Map<string, { resolution: string; index: number; bytes: number; edges: Map<string, EdgeStats> }>();
  private readonly markers = new JobMarkers(JOB_MARKER_TTL_MS, MAX_MEMORY_MARKERS);
  /** Request id → the job that claimed it and when (insertion order = age). */
  private readonly claims = new Map<string, { jobId: string; at: number }>();

  constructor(
    private readonly maxEdges: number,
    private readonly maxBucketBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  async apply(jobId: string, delta: GraphDelta, now: number): Promise<ApplyOutcome> {
    this.prune(now);
    if (!this.markers.claim(jobId, now)) return { applied: false, droppedEdges: 0 };
    let droppedEdges = 0;
    for (const b of delta.buckets.values()) {
      let bucket = this.buckets.get(b.id);
      if (!bucket) {
        bucket = { resolution: b.resolution.name, index: b.index, bytes: 0, edges: new Map() };
        this.buckets.set(b.id, bucket);
      }
      for (const [edgeId, stats] of b.edges) {
        const cur = bucket.edges.get(edgeId);
        if (cur) {
          mergeStats(cur, stats);
          continue;
        }
        // Counted as the Redis store counts: the edge id and its stats as JSON, as first written.
        const cost = Buffer.byteLength(edgeId) + Buffer.byteLength(JSON.stringify(stats));
        if (bucket.edges.size < this.maxEdges && bucket.bytes + cost <= this.maxBucketBytes) {
          bucket.bytes += cost;
          bucket.edges.set(edgeId, cloneStats(stats));
        } else droppedEdges += 1;
      }
    }
    return { applied: true, droppedEdges };
  }

  async read(range: WindowRange, now: number): Promise<Map<string, EdgeStats>> {
    this.prune(now);
    const out = new Map<string, EdgeStats>();
    for (let i = range.last; i >= range.first; i--) {
      const bucket = this.buckets.get(`${range.resolution.name}:${i}`);
      if (!bucket) continue;
      for (const [edgeId, stats] of bucket.edges) {
        const cur = out.get(edgeId);
        if (cur) mergeOlderStats(cur, stats);
        else if (out.size < this.maxEdges) out.set(edgeId, cloneStats(stats));
      }
    }
    return out;
  }

  async claimRequests(jobId: string, requestIds: readonly string[], now: number): Promise<Set<string>> {
    for (const [id, c] of this.claims) {
      if (now - c.at < REQUEST_CLAIM_TTL_MS && this.claims.size < MAX_MEMORY_CLAIMS) break;
      this.claims.delete(id);
    }
    const owned = new Set<string>();
    for (const id of requestIds) {
      const c = this.claims.get(id);
      if (c === undefined || now - c.at >= REQUEST_CLAIM_TTL_MS) {
        this.claims.delete(id);
        this.claims.set(id, { jobId, at: now });
        owned.add(id);
      } else if (c.jobId === jobId) owned.add(id);
    }
    return owned;
  }

  /** Number of buckets held (for tests of the bounds). */
  get bucketCount(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    const oldest = new Map(RESOLUTIONS.map((r) => [r.name, oldestReadable(r, now)]));
    for (const [id, b] of this.buckets) if (b.index < (oldest.get(b.resolution) ?? Infinity)) this.buckets.delete(id);
    this.markers.sweep(now);
  }
}
