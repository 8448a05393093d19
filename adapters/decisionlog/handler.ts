import { Counter } from 'prom-client';
import type { AdapterEnv, DecisionRecord, Handler } from '../../src/sdk';
import type { LoggedDecision } from './sinks';
import type { DecisionLogSettings } from './config';
import { maskRecord, parseMask } from './mask';
import { Sampler } from './sampler';
import { BatchBuilder } from './batch';
import type { Batch } from './batch';
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
 * The record as the log keeps it: with the bag (`attributes: all`) or without (`referenced`). A spread
 * copies the record's own properties, and its `attributes` (made only when read) is not one of them.
 */
function logged(r: DecisionRecord, withBag: boolean): LoggedDecision {
  return withBag ? { ...r, attributes: r.attributes } : { ...r, attributes: undefined };
}

/**
 * Records check decisions (the `decisions` capability): `decision()` samples (denials always kept),
 * masks, encodes the record in its sink's shape and appends the text to the batch being filled, a
 * bounded buffer (`bufferSize` records); nothing more, so a check never waits on it. A full batch is
 * written at once (the next event-loop turn), a partial one at the next `flushInterval`; one write at a
 * time, in order. A full buffer drops new records; a failed write drops its batch; both are counted in
 * `mixer_decisionlog_records_total{result}` and logged at most once a minute. `close()` writes every
 * record taken.
 */
export class DecisionLogHandler implements Handler {
  /** Sealed batches waiting to be written, oldest first. */
  private readonly sealed: Batch[] = [];
  /** The batch being filled. */
  private filling: BatchBuilder | undefined;
  /** Records taken and not yet handed to the sink (what `bufferSize` bounds). */
  private held = 0;
  /** Bytes to reserve for the next batch: the last sealed one's size, so a batch rarely grows. */
  private capacity: number | undefined;
  /** The buffer of the last batch written (its write settled): the next batch fills it again. */
  private spare: Buffer | undefined;
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
    if (this.held >= this.s.bufferSize) {
      this.count.dropped.inc();
      this.env.throttledLog.warn(
        'decisionlog:full',
        { handler: this.env.handlerName },
        `decisionlog: buffer of ${this.s.bufferSize} records full; records dropped`,
      );
      return;
    }
    // Encoded now: the text of a record costs the GC far less than its objects would while it waits.
    const text = this.sink.encode(maskRecord(logged(record, this.s.allAttributes), this.mask));
    let batch = this.filling;
    if (batch === undefined) {
      batch = this.filling = new BatchBuilder(this.sink.framing, this.capacity, this.spare);
      this.spare = undefined;
    }
    batch.add(text);
    this.held++;
    if (batch.count < this.s.batchSize) return;
    this.seal();
    if (this.soon === undefined && this.writing === undefined) {
      this.soon = this.env.timers.setTimeout(() => {
        this.soon = undefined;
        this.write();
      }, 0);
    }
  }

  /** Moves the batch being filled (if any record is in it) to the write queue. */
  private seal(): void {
    if (this.filling === undefined || this.filling.count === 0) return;
    const batch = this.filling.seal();
    this.filling = undefined;
    this.capacity = batch.data.length + (batch.data.length >> 3);
    this.sealed.push(batch);
  }

  /** The flush timer: unless a write is in progress (it continues with the full batches), writes all taken. */
  private flush(): void {
    if (this.writing !== undefined) return;
    this.seal();
    this.write();
  }

  /** Starts writing the sealed batches unless a write is in progress. */
  private write(): void {
    if (this.writing !== undefined || this.sealed.length === 0) return;
    this.writing = this.drain().finally(() => (this.writing = undefined));
  }

  /** Writes the sealed batches one at a time, oldest first, including those sealed meanwhile. */
  private async drain(): Promise<void> {
    for (let batch = this.sealed.shift(); batch !== undefined; batch = this.sealed.shift()) {
      this.held -= batch.count;
      try {
        await this.sink.write(batch);
        this.count.written.inc(batch.count);
        // Settled: the sink is done with the bytes (never reused while a write may still read them).
        this.spare = batch.storage;
      } catch (err) {
        this.count.failed.inc(batch.count);
        this.env.throttledLog.warn(
          'decisionlog:sink',
          { handler: this.env.handlerName, sink: this.sink.kind, err: (err as Error).message },
          `decisionlog: ${this.sink.kind} sink failed; ${batch.count} record(s) lost`,
        );
      }
    }
  }

  /**
   * Writes every record taken (at most 5 s; what is still waiting then is counted as failed), then
   * closes the sink. Safe twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, CLOSE_TIMEOUT_MS);
      });
      this.seal();
      await Promise.race([
        (async () => {
          while (!timedOut && (this.writing !== undefined || this.sealed.length > 0)) {
            this.write();
            await this.writing;
          }
        })(),
        timeout,
      ]);
      clearTimeout(timer);
      if (this.held > 0) {
        this.count.failed.inc(this.held);
        this.env.throttledLog.warn(
          'decisionlog:close',
          { handler: this.env.handlerName, sink: this.sink.kind },
          `decisionlog: ${this.sink.kind} sink still busy after ${CLOSE_TIMEOUT_MS} ms at close; ${this.held} record(s) lost`,
        );
        this.held = 0;
        this.sealed.length = 0;
      }
      await this.sink.close();
    })();
    return this.closing;
  }
}
