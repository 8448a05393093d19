/**
 * Per-edge statistics of one time bucket, and the latency histogram they carry. The same shape is
 * stored in memory and (as JSON) in Redis; {@link mergeStats} and the Lua merge in `redis-store.ts`
 * follow the same rules: numbers add; `h` merges bucket by bucket; strings and node objects are
 * replaced by the newer value.
 */

/** Node kinds of the graph (Kiali's versioned-app graph). */
export type NodeType = 'app' | 'workload' | 'service';

/** A graph node as rendered in `elements.nodes[].data`. Absent values are empty strings. */
export interface NodeData {
  id: string;
  nodeType: NodeType;
  namespace: string;
  app: string;
  version: string;
  workload: string;
  service: string;
}

/** Latency histogram: bucket index (as text) → [observations, sum of their ms]. */
export type Histogram = Record<string, [number, number]>;

/** Counts of one edge in one time bucket (field names are short: they are stored per bucket). */
export interface EdgeStats {
  /** Requests. */
  c: number;
  /** Requests answered 5xx. */
  e: number;
  /** Request plus response bytes. */
  b: number;
  /** Requests over mutual TLS. */
  m: number;
  /** Requests with a duration, and the sum of those durations (ms). */
  ln: number;
  ls: number;
  h?: Histogram;
  /** Protocol (`http`, `grpc`, `tcp`). */
  p: string;
  /** Source and destination node. */
  s: NodeData;
  d: NodeData;
}

/** Histogram buckets per doubling of latency: each bucket spans a factor 2^(1/4) ≈ 1.19. */
export const STEPS_PER_OCTAVE = 4;
/** Lowest bucket: everything up to 2^-10 ms (≈ 1 µs), including 0. */
export const MIN_BUCKET = -10 * STEPS_PER_OCTAVE;
/** Highest bucket: everything above 2^21.75 ms (≈ 58 min). */
export const MAX_BUCKET = 22 * STEPS_PER_OCTAVE;

/** The histogram bucket of a duration: bucket `i` holds (2^((i−1)/4), 2^(i/4)] ms. */
export function bucketIndex(ms: number): number {
  if (!(ms > 0)) return MIN_BUCKET;
  const i = Math.ceil(Math.log2(ms) * STEPS_PER_OCTAVE);
  return Math.min(MAX_BUCKET, Math.max(MIN_BUCKET, i));
}

/** Stats of an edge with nothing counted yet. */
export function emptyStats(protocol: string, source: NodeData, target: NodeData): EdgeStats {
  return { c: 0, e: 0, b: 0, m: 0, ln: 0, ls: 0, p: protocol, s: source, d: target };
}

/** Counts one request into `stats`. `durationMs` undefined: the request has no latency. */
export function observe(stats: EdgeStats, isError: boolean, bytes: number, mtls: boolean, durationMs: number | undefined): void {
  stats.c += 1;
  if (isError) stats.e += 1;
  stats.b += bytes;
  if (mtls) stats.m += 1;
  if (durationMs === undefined) return;
  stats.ln += 1;
  stats.ls += durationMs;
  const h = (stats.h ??= {});
  const k = String(bucketIndex(durationMs));
  const cell = h[k];
  if (cell) {
    cell[0] += 1;
    cell[1] += durationMs;
  } else h[k] = [1, durationMs];
}

/** Adds `from` into `into` (see the module comment for the rules). `from` is not changed. */
export function mergeStats(into: EdgeStats, from: EdgeStats): void {
  into.c += from.c;
  into.e += from.e;
  into.b += from.b;
  into.m += from.m;
  into.ln += from.ln;
  into.ls += from.ls;
  if (from.h) {
    const h = (into.h ??= {});
    for (const [k, [n, s]] of Object.entries(from.h)) {
      const cell = h[k];
      if (cell) {
        cell[0] += n;
        cell[1] += s;
      } else h[k] = [n, s];
    }
  }
  into.p = from.p;
  into.s = { ...from.s };
  into.d = { ...from.d };
}

/** Adds the counts of `older` into `into`, keeping `into`'s protocol and nodes (the newer ones). */
export function mergeOlderStats(into: EdgeStats, older: EdgeStats): void {
  const { p, s, d } = into;
  mergeStats(into, older);
  into.p = p;
  into.s = s;
  into.d = d;
}

/** A deep copy of `stats`. */
export function cloneStats(stats: EdgeStats): EdgeStats {
  const copy = emptyStats(stats.p, stats.s, stats.d);
  mergeStats(copy, stats);
  return copy;
}

/**
 * Estimates the `q` quantile (0 < q ≤ 1) of the durations, ms: the nearest-rank observation
 * (rank `ceil(q·n)`) is located in its histogram bucket and the mean of that bucket's durations is
 * answered. The estimate lies in the same bucket as the true value (within a factor 2^(1/4) ≈ 1.19),
 * and is exact when the bucket holds one distinct value.
 * Undefined when there are no durations.
 */
export function quantile(stats: EdgeStats, q: number): number | undefined {
  const h = stats.h;
  if (!h) return undefined;
  const cells = Object.entries(h)
    .map(([k, [n, s]]) => ({ i: Number(k), n, s }))
    .filter((c) => c.n > 0)
    .sort((a, b) => a.i - b.i);
  const total = cells.reduce((sum, c) => sum + c.n, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total - 1e-9));
  let seen = 0;
  for (const c of cells) {
    seen += c.n;
    if (seen >= rank) return c.s / c.n;
  }
  const top = cells[cells.length - 1];
  return top.s / top.n;
}
