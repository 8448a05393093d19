/**
 * Time buckets and the windows read from them. Counts are kept per fixed time bucket of one of two
 * resolutions: 10 s buckets (serving the 1m and 5m windows) and 1 min buckets (serving 1h). A
 * bucket's index is `floor(epochMs / bucketMs)`.
 */

/** Names of the windows the graph can be asked for. */
export const WINDOW_NAMES = ['1m', '5m', '1h'] as const;
export type WindowName = (typeof WINDOW_NAMES)[number];

/** The default window of `GET /v1/graph`. */
export const DEFAULT_WINDOW: WindowName = '5m';

/** One bucket resolution. */
export interface Resolution {
  /** Used in storage keys: `10s` or `1m`. */
  readonly name: string;
  /** Length of one bucket, ms. */
  readonly bucketMs: number;
  /** How far back buckets of this resolution are read (the longest window it serves), ms. */
  readonly keepMs: number;
}

/** 10 s buckets for the 1m and 5m windows. */
export const FINE: Resolution = Object.freeze({ name: '10s', bucketMs: 10_000, keepMs: 300_000 });
/** 1 min buckets for the 1h window. */
export const COARSE: Resolution = Object.freeze({ name: '1m', bucketMs: 60_000, keepMs: 3_600_000 });

/** Every resolution a request is counted in. */
export const RESOLUTIONS: readonly Resolution[] = Object.freeze([FINE, COARSE]);

/** The oldest a request may be and still be counted at its own time, ms (the longest window). */
export const LONGEST_WINDOW_MS = COARSE.keepMs;

const WINDOWS: Readonly<Record<WindowName, { ms: number; resolution: Resolution }>> = Object.freeze({
  '1m': { ms: 60_000, resolution: FINE },
  '5m': { ms: 300_000, resolution: FINE },
  '1h': { ms: 3_600_000, resolution: COARSE },
});

/** True when `name` is a window the graph serves. */
export function isWindowName(name: string): name is WindowName {
  return (WINDOW_NAMES as readonly string[]).includes(name);
}

/** The buckets a window reads at `now`, and the time they cover. */
export interface WindowRange {
  readonly resolution: Resolution;
  /** First (oldest) bucket index, inclusive. */
  readonly first: number;
  /** Last bucket index (the one holding `now`), inclusive. */
  readonly last: number;
  /** Time from the start of the first bucket to `now`, ms: between window − bucket and window. */
  readonly spanMs: number;
  /** The window's nominal length, ms. */
  readonly windowMs: number;
}

/**
 * The buckets of `window` at `now` (epoch ms): the bucket holding `now` and the ones before it,
 * `windowMs / bucketMs` in all. Rates are divided by `spanMs`, the time those buckets really cover.
 */
export function windowRange(window: WindowName, now: number): WindowRange {
  const { ms, resolution } = WINDOWS[window];
  const n = ms / resolution.bucketMs;
  const last = Math.floor(now / resolution.bucketMs);
  const first = last - n + 1;
  return { resolution, first, last, spanMs: now - first * resolution.bucketMs, windowMs: ms };
}

/**
 * How long a bucket must be kept after `now`, ms: until no window can read it any more, plus one
 * bucket of slack (never less than one second).
 */
export function bucketTtlMs(res: Resolution, index: number, now: number): number {
  const lastRead = (index + 1) * res.bucketMs + res.keepMs;
  return Math.max(1000, Math.ceil(lastRead + res.bucketMs - now));
}

/** Oldest bucket index of `res` that any window can still read at `now`. */
export function oldestReadable(res: Resolution, now: number): number {
  return Math.floor(now / res.bucketMs) - res.keepMs / res.bucketMs + 1;
}
