import type { DeadLetter, DeadLetterPage, DeadLetterSummary } from './report-queue';

/** Bounds of each handler's dead letters. */
export interface DeadLetterLimits {
  /** Most dead letters per handler (MIXER_DEAD_LETTER_MAX_COUNT, default 1000); beyond it the oldest go. */
  maxCount: number;
  /** Most bytes of dead letters per handler (MIXER_DEAD_LETTER_MAX_BYTES, default 64 MiB); beyond it the oldest go. */
  maxBytes: number;
  /** A dead letter older than this is removed, ms (MIXER_DEAD_LETTER_TTL_S, default 7 days). */
  ttlMs: number;
}

export const DEFAULT_DEAD_LETTER_LIMITS: DeadLetterLimits = { maxCount: 1000, maxBytes: 64 * 1024 * 1024, ttlMs: 7 * 24 * 3_600_000 };

/** Why dead letters were dropped: over the count or byte cap (the oldest go; `bytes` also when one alone is over the cap), or expired. */
export type DeadLetterDropReason = 'count' | 'bytes' | 'expired';

/** Told of dead letters a store dropped (for `mixer_dead_letters_dropped_total{handler,reason}`). */
export type DeadLetterDropSink = (handler: string, reason: DeadLetterDropReason, n: number) => void;

/** Longest error text kept with a dead letter, characters. */
export const MAX_ERROR_CHARS = 4096;

/**
 * Where batches go that a handler kept failing (or failed permanently): one set per handler,
 * bounded by {@link DeadLetterLimits}, listed a page at a time without reading the bags, inspected
 * and replayed by an operator. Redis-backed with a queue in Redis, in memory otherwise.
 */
export interface DeadLetterStore {
  /** Keeps `dl` (replacing one with the same id), then drops what is expired or over the caps. */
  add(dl: DeadLetter): Promise<void>;
  /** Newest first; `cursor` is the previous page's `next`. */
  page(handler: string, limit: number, cursor?: string): Promise<DeadLetterPage>;
  get(handler: string, id: string): Promise<DeadLetter | undefined>;
  remove(handler: string, id: string): Promise<void>;
  /** Dead letters per handler (not expired). */
  counts(): Promise<Record<string, number>>;
}

/** `dl` as stored: the error cut to {@link MAX_ERROR_CHARS}, its JSON, and its summary. */
export function encodeDeadLetter(dl: DeadLetter): { json: string; summary: DeadLetterSummary } {
  const kept = dl.error.length > MAX_ERROR_CHARS ? { ...dl, error: `${dl.error.slice(0, MAX_ERROR_CHARS)}…` } : dl;
  const json = JSON.stringify(kept);
  const { bags, ...rest } = kept;
  return { json, summary: { ...rest, bags: bags.length, bytes: Buffer.byteLength(json) } };
}

/** True when `text` has the shape of a page cursor: `<failedAt ms>:<id>`. */
export function isCursor(text: string): boolean {
  return /^\d{1,16}:.+$/.test(text);
}

/** The cursor that continues after `s`. */
export function cursorOf(s: Pick<DeadLetterSummary, 'id' | 'failedAt'>): string {
  return `${Date.parse(s.failedAt) || 0}:${s.id}`;
}

/**
 * The dead letters of `handler` to replay: those in `ids` (unknown ids skipped), or every one,
 * read a page of summaries at a time and then one letter at a time.
 */
export async function lettersToReplay(store: DeadLetterStore, handler: string, ids?: readonly string[]): Promise<DeadLetter[]> {
  const wanted: string[] = ids ? [...ids] : [];
  if (!ids) {
    let cursor: string | undefined;
    do {
      const page = await store.page(handler, 500, cursor);
      wanted.push(...page.items.map((s) => s.id));
      cursor = page.next;
    } while (cursor !== undefined);
  }
  const out: DeadLetter[] = [];
  for (const id of wanted) {
    const dl = await store.get(handler, id);
    if (dl) out.push(dl);
  }
  return out;
}

interface Entry {
  dl: DeadLetter;
  summary: DeadLetterSummary;
  /** failedAt, epoch ms. */
  at: number;
}

/** Dead letters in memory (embedded mode): lost with the process, like the embedded queue; same bounds as in Redis. */
export class MemoryDeadLetters implements DeadLetterStore {
  /** Per handler, in the order added (oldest first). */
  private readonly byHandler = new Map<string, { entries: Map<string, Entry>; bytes: number }>();

  constructor(
    private readonly limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS,
    private readonly onDrop: DeadLetterDropSink = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async add(dl: DeadLetter): Promise<void> {
    const { summary } = encodeDeadLetter(dl);
    if (summary.bytes > this.limits.maxBytes) {
      this.onDrop(dl.handler, 'bytes', 1);
      return;
    }
    let h = this.byHandler.get(dl.handler);
    if (!h) this.byHandler.set(dl.handler, (h = { entries: new Map(), bytes: 0 }));
    this.drop(h, dl.id);
    h.entries.set(dl.id, { dl, summary, at: Date.parse(dl.failedAt) || this.now() });
    h.bytes += summary.bytes;
    this.expire(dl.handler);
    const over = (reason: 'count' | 'bytes'): number => {
      let n = 0;
      while (h.entries.size > 0 && (reason === 'count' ? h.entries.size > this.limits.maxCount : h.bytes > this.limits.maxBytes)) {
        this.drop(h, h.entries.keys().next().value!);
        n++;
      }
      return n;
    };
    for (const reason of ['count', 'bytes'] as const) {
      const n = over(reason);
      if (n > 0) this.onDrop(dl.handler, reason, n);
    }
  }

  async page(handler: string, limit: number, cursor?: string): Promise<DeadLetterPage> {
    this.expire(handler);
    const all = [...(this.byHandler.get(handler)?.entries.values() ?? [])].reverse();
    let start = 0;
    if (cursor !== undefined) {
      if (!isCursor(cursor)) throw new Error(`not a dead-letter cursor: ${JSON.stringify(cursor)}`);
      const colon = cursor.indexOf(':');
      const i = all.findIndex((e) => e.dl.id === cursor.slice(colon + 1));
      const at = Number(cursor.slice(0, colon));
      start = i >= 0 ? i + 1 : all.filter((e) => e.at > at).length;
    }
    const items = all.slice(start, start + limit).map((e) => e.summary);
    const last = items[items.length - 1];
    const next = start + limit < all.length && last ? cursorOf(last) : undefined;
    return { items, count: all.length, ...(next !== undefined ? { next } : {}) };
  }

  async get(handler: string, id: string): Promise<DeadLetter | undefined> {
    this.expire(handler);
    return this.byHandler.get(handler)?.entries.get(id)?.dl;
  }

  async remove(handler: string, id: string): Promise<void> {
    const h = this.byHandler.get(handler);
    if (h) this.drop(h, id);
  }

  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [handler, h] of this.byHandler) {
      this.expire(handler);
      out[handler] = h.entries.size;
    }
    return out;
  }

  private drop(h: { entries: Map<string, Entry>; bytes: number }, id: string): void {
    const e = h.entries.get(id);
    if (!e) return;
    h.entries.delete(id);
    h.bytes -= e.summary.bytes;
  }

  /** Drops the handler's dead letters older than the TTL (the oldest are first). */
  private expire(handler: string): void {
    const h = this.byHandler.get(handler);
    if (!h) return;
    const cutoff = this.now() - this.limits.ttlMs;
    let n = 0;
    for (const [id, e] of h.entries) {
      if (e.at >= cutoff) break;
      this.drop(h, id);
      n++;
    }
    if (n > 0) this.onDrop(handler, 'expired', n);
  }
}
