import { Counter, Histogram } from 'prom-client';
import type { CounterConfiguration, HistogramConfiguration, LabelValues } from 'prom-client';

/*
 * Cheap metrics for the check path: prom-client's counters and histograms cost more per increment
 * than a whole check otherwise does, so these count in plain numbers and hand the totals to
 * prom-client only when someone reads them (a scrape). Equivalence with prom-client's own is tested.
 */

/** The flush a metric runs before each collect; set once the metric exists (its constructor needs the config first). */
interface FlushHook {
  flush: () => void;
}

/** `config` with a `collect` that runs `hook.flush` first, then the config's own `collect`, if any. */
function flushingFirst<C extends { collect?: unknown }>(config: C, hook: FlushHook): C {
  const own = config.collect as ((this: unknown) => unknown) | undefined;
  return {
    ...config,
    collect(this: unknown) {
      hook.flush();
      return own?.call(this);
    },
  };
}

/** A child of a {@link BufferedCounter}: counts in a plain number until the counter is read. */
interface BufferedChild<T extends string> extends Counter.Internal {
  readonly labels: LabelValues<T>;
  pending: number;
  touched: boolean;
}

/**
 * A Counter whose `labels(v1, v2, ...)` children are cached and count in a plain number, folded into
 * the counter (in first-counted order) whenever it is read: a scrape, `get()`, `reset()` or
 * `remove()`. What a reader sees is what counting at once would give; the hot path (one count per
 * adapter call on every check) costs an addition instead of a label hash.
 */
export class BufferedCounter<T extends string> extends Counter<T> {
  private readonly children = new Map<string, BufferedChild<T>>();
  private dirty: BufferedChild<T>[] = [];
  private readonly names: readonly T[];

  constructor(config: CounterConfiguration<T>) {
    const hook: FlushHook = { flush: () => undefined };
    super(flushingFirst(config, hook));
    hook.flush = () => this.flush();
    this.names = config.labelNames ?? [];
  }

  override labels(...args: [LabelValues<T>] | string[]): Counter.Internal {
    if (args.length !== this.names.length || args.some((a) => typeof a !== 'string')) return super.labels(...(args as string[]));
    const values = args as string[];
    const id = values.join('\u0000');
    let child = this.children.get(id);
    if (child === undefined) {
      const labels = {} as Record<string, string>;
      this.names.forEach((n, i) => (labels[n] = values[i]));
      const c: BufferedChild<T> = {
        labels: labels as LabelValues<T>,
        pending: 0,
        touched: false,
        inc: (value?: number) => {
          if (value !== undefined && !(typeof value === 'number' && value >= 0 && value !== Infinity)) {
            // Anything unusual goes to prom-client as it comes (it throws on what it rejects).
            this.flush();
            this.inc(c.labels, value);
            return;
          }
          if (!c.touched) {
            c.touched = true;
            this.dirty.push(c);
          }
          c.pending += value ?? 1;
        },
      };
      child = c;
      this.children.set(id, child);
    }
    return child;
  }

  override reset(): void {
    // prom-client's constructor calls reset() before this class's fields exist.
    if (this.dirty !== undefined) {
      for (const c of this.dirty) {
        c.pending = 0;
        c.touched = false;
      }
      this.dirty = [];
    }
    super.reset();
  }

  override remove(...args: [LabelValues<T>] | string[]): void {
    this.flush();
    super.remove(...(args as string[]));
  }

  private flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    this.dirty = [];
    for (const c of dirty) {
      const n = c.pending;
      c.pending = 0;
      c.touched = false;
      this.inc(c.labels, n);
    }
  }
}
/** Most observations a {@link BatchedHistogram} holds before it applies them on the spot. */
const MAX_QUEUED_OBSERVATIONS = 512;

/**
 * A Histogram whose `observe(value)` and `labels(...)`-children observations are queued and applied
 * in order, in one tight batch per event-loop turn (or once 512 wait, or whenever the histogram is
 * read, reset or has series removed). The figures are the same as observing at once, in the same
 * order; what changes is that prom-client's per-observation work (label hashing, bucket lookup) runs
 * with its code and data hot instead of between two requests' network work.
 */
export class BatchedHistogram<T extends string> extends Histogram<T> {
  /** Target of each queued value: a child from prom-client's `labels()`, or null for `observe(value)`. */
  private targets: Array<Histogram.Internal<T> | null> = [];
  private values: number[] = [];
  private scheduled = false;
  private readonly children = new Map<string, Histogram.Internal<T>>();
  private readonly names: readonly T[];
  /** prom-client's own `observe` (it sets it on the instance, so it is replaced there too). */
  private readonly direct: (...args: unknown[]) => void;

  constructor(config: HistogramConfiguration<T>) {
    const hook: FlushHook = { flush: () => undefined };
    super(flushingFirst(config, hook));
    hook.flush = () => this.flush();
    this.names = config.labelNames ?? [];
    const direct = (this.observe as (...args: unknown[]) => void).bind(this);
    this.direct = direct;
    this.observe = (...args: unknown[]): void => {
      const v = args[0];
      if (args.length === 1 && typeof v === 'number' && Number.isFinite(v)) return this.enqueue(null, v);
      this.flush();
      direct(...args);
    };
  }

  override labels(...args: [LabelValues<T>] | string[]): Histogram.Internal<T> {
    if (args.length !== this.names.length || args.some((a) => typeof a !== 'string')) return super.labels(...(args as string[]));
    const id = (args as string[]).join('\u0000');
    let child = this.children.get(id);
    if (child === undefined) {
      const real = super.labels(...(args as string[]));
      child = {
        observe: (value: number) => {
          if (typeof value === 'number' && Number.isFinite(value)) return this.enqueue(real, value);
          this.flush();
          real.observe(value); // prom-client rejects it, as it would have
        },
        startTimer: () => {
          this.flush();
          const end = real.startTimer();
          return (labels?: LabelValues<T>) => {
            this.flush();
            end(labels);
          };
        },
      };
      this.children.set(id, child);
    }
    return child;
  }

  override reset(): void {
    // prom-client's constructor calls reset() before this class's fields exist.
    if (this.values !== undefined) this.flush();
    super.reset();
  }

  override remove(...args: [LabelValues<T>] | string[]): void {
    this.flush();
    super.remove(...(args as string[]));
  }

  override zero(labels: LabelValues<T>): void {
    this.flush();
    super.zero(labels);
  }

  private enqueue(target: Histogram.Internal<T> | null, value: number): void {
    this.targets.push(target);
    this.values.push(value);
    if (this.values.length >= MAX_QUEUED_OBSERVATIONS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const { targets, values } = this;
    if (values.length === 0) return;
    this.targets = [];
    this.values = [];
    for (let i = 0; i < values.length; i++) {
      const t = targets[i];
      if (t === null) this.direct(values[i]);
      else t.observe(values[i]);
    }
  }
}
