import { Counter } from 'prom-client';
import type { AdapterEnv, DecisionRecord, Handler } from '../../src/sdk';
import type { DecisionLogSettings } from './config';
import { maskRecord, parseMask } from './mask';
import { Sampler } from './sampler';
import { FileSink, HttpSink, RedisStreamSink, StdoutSink } from './sinks';
import type { Sink } from './sinks';

/** Longest close() waits for the last records to be written, ms. */
const CLOSE_TIMEOUT_MS = 5000;

type Result = 'written' | 'sampled_out' | 'dropped' | 'failed';

/** Opens the sink the settings name; rejects when it cannot be used (no Redis, a file that cannot be opened). */
async function openSink(s: DecisionLogSettings, env: AdapterEnv): Promise<Sink> {
  switch (s.sink) {
    case 'file':
      try {
        return await FileSink.open(s.path!, s.maxBytes, s.maxFiles);
      } catch (err) {
        throw new Error(`decisionlog: cannot open ${s.path}: ${(err as Error).message}`, { cause: err });
      }
    case 'http':
      return new HttpSink(s, env.handlerName);
    case 'redis':
      if (!env.redis) throw new Error('decisionlog: sink redis needs Redis (set REDIS_URL)');
      return new RedisStreamSink(env.redis, `${env.keyPrefix}${s.stream}`, s.maxLen);
    default:
      return new StdoutSink();
  }
}

/**
 * Records check decisions (the `decisions` capability): `decision()` samples (denials always kept)
 * and appends to a bounded buffer, nothing more, so a check never waits on it; a timer (or a full
 * batch) writes the buffer to the sink, masked, one batch at a time. A full buffer drops new records;
 * a failed write drops its batch; both are counted in `mixer_decisionlog_records_total{result}` and
 * logged at most once a minute.
 */
export class DecisionLogHandler implements Handler {
  private buffer: DecisionRecord[] = [];
  private writing: Promise<void> | undefined;
  private soon: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly count: Record<Result, Counter.Internal>;
  private readonly sampler: Sampler;
  private readonly mask: ReturnType<typeof parseMask>;

  private constructor(
    private readonly s: DecisionLogSettings,
    private readonly env: AdapterEnv,
    private readonly sink: Sink,
  ) {
    this.mask = parseMask(s.mask);
    this.sampler = new Sampler(s.sample, s.seed);
    const c = new Counter({
      name: 'mixer_decisionlog_records_total',
      help: 'Check decisions seen by a decisionlog handler, by result: written, sampled_out, dropped (buffer full), failed (sink error).',
      labelNames: ['handler', 'result'],
      registers: [env.registry],
    });
    const child = (r: Result): Counter.Internal => c.labels(env.handlerName, r);
    this.count = { written: child('written'), sampled_out: child('sampled_out'), dropped: child('dropped'), failed: child('failed') };
    env.timers.setInterval(() => this.flush(), s.flushIntervalMs);
  }

  static async open(s: DecisionLogSettings, env: AdapterEnv): Promise<DecisionLogHandler> {
    parseMask(s.mask); // a bad mask entry fails create(), before anything is opened
    return new DecisionLogHandler(s, env, await openSink(s, env));
  }

  decision(record: DecisionRecord): void {
    if (this.closing) return;
    if (!this.sampler.keep(record.status.code)) return this.count.sampled_out.inc();
    if (this.buffer.length >= this.s.bufferSize) {
      this.count.dropped.inc();
      this.env.throttledLog.warn(
        'decisionlog:full',
        { handler: this.env.handlerName },
        `decisionlog: buffer of ${this.s.bufferSize} records full; records dropped`,
      );
      return;
    }
    this.buffer.push(record);
    if (this.buffer.length >= this.s.batchSize && this.soon === undefined && this.writing === undefined) {
      this.soon = this.env.timers.setTimeout(() => {
        this.soon = undefined;
        this.flush();
      }, 0);
    }
  }

  /** Starts writing what is buffered unless a write is in progress (it continues with the rest). */
  private flush(): void {
    if (this.writing !== undefined || this.buffer.length === 0) return;
    this.writing = this.drain().finally(() => (this.writing = undefined));
  }

  /**
   * Writes one batch, then more while a full batch is waiting (or, with `all`, until the buffer is
   * empty); a partial batch waits for the next flush interval, so a busy log writes few large batches.
   */
  private async drain(all = false): Promise<void> {
    for (let first = true; this.buffer.length > 0 && (first || all || this.buffer.length >= this.s.batchSize); first = false) {
      const all = this.s.allAttributes;
      // Without `attributes: all` the bag stays out of the record (JSON leaves undefined out).
      const batch = this.buffer.splice(0, this.s.batchSize).map((r) => maskRecord(all ? r : { ...r, attributes: undefined as never }, this.mask));
      try {
        await this.sink.write(batch);
        this.count.written.inc(batch.length);
      } catch (err) {
        this.count.failed.inc(batch.length);
        this.env.throttledLog.warn(
          'decisionlog:sink',
          { handler: this.env.handlerName, sink: this.sink.kind, err: (err as Error).message },
          `decisionlog: ${this.sink.kind} sink failed; ${batch.length} record(s) lost`,
        );
      }
    }
  }

  /** Writes what is buffered (at most 5 s), then closes the sink. Safe twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
      await Promise.race([
        (async () => {
          await this.writing;
          await this.drain(true);
        })(),
        timeout,
      ]);
      clearTimeout(timer);
      await this.sink.close();
    })();
    return this.closing;
  }
}
