/** How a sink frames the records of one write: `open` before the first, `sep` between two, `close` after the last. */
export interface Framing {
  readonly open: string;
  readonly sep: string;
  readonly close: string;
}

/** A JSON array of records (`redis`, `http`). */
export const JSON_ARRAY: Framing = Object.freeze({ open: '[', sep: ',', close: ']' });
/** One record a line, each ended by a newline (`stdout`, `file`). */
export const JSON_LINES: Framing = Object.freeze({ open: '', sep: '\n', close: '\n' });

/** One write: `count` encoded records, framed, as UTF-8 bytes. */
export interface Batch {
  readonly data: Buffer;
  readonly count: number;
  /** The whole buffer `data` is the start of (for the next batch, once this one's write has settled). */
  readonly storage: Buffer;
}

/** Bytes a batch starts with when nothing better is known. */
const FIRST_CAPACITY = 64 * 1024;

/**
 * Encoded records appended, framed, to one buffer until {@link seal}ed. Records are kept as bytes, not
 * objects: ~1 KB of off-heap memory each instead of a tree of objects the GC would copy and promote
 * while the record waits for its write, and the write is one buffer a sink hands on as it is (no join
 * of strings, no second encoding). The buffer grows by doubling; once sealed it belongs to the batch
 * and is never reused, so a sink that keeps it while writing (a pipe, a socket) is safe.
 */
export class BatchBuilder {
  private buf: Buffer;
  private len = 0;
  private records = 0;

  constructor(
    private readonly framing: Framing,
    /** Bytes reserved at first (a hint: the size of the last batch). */
    capacity = FIRST_CAPACITY,
    /** A buffer to fill instead of a new one (a written batch's `storage`: memory already mapped) when big enough. */
    reuse?: Buffer,
  ) {
    this.buf = reuse !== undefined && reuse.length >= capacity ? reuse : Buffer.allocUnsafe(Math.max(capacity, 1024));
  }

  /** Records added so far. */
  get count(): number {
    return this.records;
  }

  /** Appends one record's text (JSON, without framing). */
  add(text: string): void {
    const sep = this.records === 0 ? this.framing.open : this.framing.sep;
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    const need = this.len + sep.length + text.length * 3 + this.framing.close.length;
    if (need > this.buf.length) this.grow(need);
    if (sep.length > 0) this.len += this.buf.write(sep, this.len, 'latin1');
    this.len += this.buf.write(text, this.len, 'utf8');
    this.records++;
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  /** The batch (framing closed). The builder is not used after this. */
  seal(): Batch {
    // No record: `[]` for an array, nothing for lines.
    if (this.records === 0 && this.framing.open === '') return { data: this.buf.subarray(0, 0), count: 0, storage: this.buf };
    if (this.records === 0) this.len += this.buf.write(this.framing.open, this.len, 'latin1');
    this.len += this.buf.write(this.framing.close, this.len, 'latin1');
    return { data: this.buf.subarray(0, this.len), count: this.records, storage: this.buf };
  }
}

/** A batch of `texts` framed as `framing` (for a single write outside the handler's buffer, and tests). */
export function batchOf(framing: Framing, texts: readonly string[]): Batch {
  const b = new BatchBuilder(
    framing,
    texts.reduce((n, t) => n + t.length * 3 + 1, 2),
  );
  for (const t of texts) b.add(t);
  return b.seal();
}
