import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CounterConfiguration, HistogramConfiguration, LabelValues } from 'prom-client';
import { withTimeout } from '../runtime/timeout';

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
class BufferedCounter<T extends string> extends Counter<T> {
  private readonly children = new Map<string, BufferedChild<T>>();
  private dirty: BufferedChild<T>[] = [];
  private readonly names: readonly T[];

  constructor(config: CounterConfiguration<T>) {
    const hook = { flush: (): void => undefined };
    const own = config.collect;
    super({
      ...config,
      collect(this: Counter<T>) {
        hook.flush();
        return own?.call(this);
      },
    });
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
class BatchedHistogram<T extends string> extends Histogram<T> {
  /** Target of each queued value: a child from prom-client's `labels()`, or null for `observe(value)`. */
  private targets: Array<Histogram.Internal<T> | null> = [];
  private values: number[] = [];
  private scheduled = false;
  private readonly children = new Map<string, Histogram.Internal<T>>();
  private readonly names: readonly T[];
  /** prom-client's own `observe` (it sets it on the instance, so it is replaced there too). */
  private readonly direct: (...args: unknown[]) => void;

  constructor(config: HistogramConfiguration<T>) {
    const hook = { flush: (): void => undefined };
    const own = config.collect;
    super({
      ...config,
      collect(this: Histogram<T>) {
        hook.flush();
        return own?.call(this);
      },
    });
    hook.flush = () => this.flush();
    this.names = config.labelNames ?? [];
    const direct = (this.observe as (...args: unknown[]) => void).bind(this);
    this.direct = direct;
    this.observe = ((...args: unknown[]): void => {
      const v = args[0];
      if (args.length === 1 && typeof v === 'number' && Number.isFinite(v)) return this.enqueue(null, v);
      this.flush();
      direct(...args);
    }) as Histogram<T>['observe'];
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

/**
 * Mixer's own `mixer_*` metrics, one registry per process (never the global one).
 * Adapters' registries and the report state collectors are merged in at scrape time.
 */
export class SelfMetrics {
  readonly registry = new Registry();
  /** Observed on every check: observations are batched (see BatchedHistogram). */
  readonly checkDuration = new BatchedHistogram({
    name: 'mixer_check_duration_seconds',
    help: 'Time to answer a check, from decoded request to answer, in seconds.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /**
   * Check answers counted since the last read of `checkResults`, by code, in first-seen order: the
   * check path adds to a number here and the counter takes the sums whenever it is read (scrape,
   * `get()`), so its values are the same as if each answer were counted at once.
   */
  private readonly pendingCheckResults = new Map<number, number>();
  readonly checkResults = new Counter({
    name: 'mixer_check_results_total',
    help: 'Check answers by google.rpc status code.',
    labelNames: ['code'],
    registers: [this.registry],
    collect: () => this.flushCheckResults(),
  });
  readonly requestErrors = new Counter({
    name: 'mixer_request_errors_total',
    help: 'API requests refused with an error, by route and error code.',
    labelNames: ['route', 'code'],
    registers: [this.registry],
  });
  readonly reports = new Counter({
    name: 'mixer_reports_total',
    help: 'Report bags by result: accepted (durably queued) or rejected.',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'mixer_config_reloads_total',
    help: 'Config loads by result (ok, failed).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly configGeneration = new Gauge({
    name: 'mixer_config_generation',
    help: 'Generation of the config now serving; it changes on every successful reload.',
    registers: [this.registry],
  });
  /** Counted on every adapter call (check and report): its `labels()` children are buffered. */
  readonly dispatch = new BufferedCounter({
    name: 'mixer_adapter_dispatch_total',
    help: 'Calls into adapters by handler and result (ok, error, timeout).',
    labelNames: ['handler', 'result'],
    registers: [this.registry],
  });
  /** Observed on every adapter call (check and report): observations are batched (see BatchedHistogram). */
  readonly dispatchDuration = new BatchedHistogram({
    name: 'mixer_adapter_dispatch_duration_seconds',
    help: 'Duration of calls into adapters, by handler, in seconds.',
    labelNames: ['handler'],
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  /** Counted each time an isolated handler (`isolation: worker`) starts a new worker after a crash or a hang. */
  readonly workerRestarts = new Counter({
    name: 'mixer_adapter_worker_restarts_total',
    help: 'Restarts of isolated handlers\' worker threads after a crash or a hang, by handler.',
    labelNames: ['handler'],
    registers: [this.registry],
  });
  readonly redisUp = new Gauge({
    name: 'mixer_redis_up',
    help: '1 when the Redis connection is ready, 0 when not (or no Redis is configured).',
    registers: [this.registry],
  });

  readonly queueRetries = new Counter({
    name: 'mixer_queue_retries_total',
    help: 'Report batches a handler failed and that will be retried after a backoff, by handler.',
    labelNames: ['handler'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'mixer_queue_depth',
    help: 'Report deliveries by state (waiting, active, delayed, failed = dead letters), over every handler queue.',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly deadLetters = new Gauge({
    name: 'mixer_dead_letters',
    help: 'Report batches in the dead-letter set, by handler.',
    labelNames: ['handler'],
    registers: [this.registry],
  });

  /** Makes `mixer_queue_depth` and `mixer_dead_letters` read the queue at every scrape. */
  observeQueue(queue: { depth(): Promise<Record<string, number>>; deadLetterCounts(): Promise<Record<string, number>> }): void {
    const depth = this.queueDepth;
    const dead = this.deadLetters;
    (depth as unknown as { collect: () => Promise<void> }).collect = async () => {
      try {
        const d = await withTimeout(queue.depth(), 1000, 'queue depth');
        for (const [state, n] of Object.entries(d)) depth.set({ state }, n);
      } catch {
        /* Redis away: keep the last figures; mixer_redis_up says why */
      }
    };
    (dead as unknown as { collect: () => Promise<void> }).collect = async () => {
      try {
        const counts = await withTimeout(queue.deadLetterCounts(), 1000, 'dead letter counts');
        dead.reset();
        for (const [handler, n] of Object.entries(counts)) dead.set({ handler }, n);
      } catch {
        /* as above */
      }
    };
  }

  /** Counts one check answer under `mixer_check_results_total{code}` (cheap enough for every request). */
  countCheckResult(code: number): void {
    const pending = this.pendingCheckResults;
    const n = pending.get(code);
    if (n !== undefined) pending.set(code, n + 1);
    else if (typeof code === 'number' && this.pendingCheckResults.size < 64) pending.set(code, 1);
    else this.checkResults.inc({ code }); // an odd code: counted at once, as before
  }

  private flushCheckResults(): void {
    for (const [code, n] of this.pendingCheckResults) {
      if (n === 0) continue;
      this.checkResults.inc({ code }, n);
      this.pendingCheckResults.set(code, 0);
    }
  }

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mixer_' });
  }
}
