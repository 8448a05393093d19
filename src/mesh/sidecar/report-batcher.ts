import type { Logger } from 'pino';
import { DEFAULT_REPORT_HEADERS, reportJson } from './attributes';
import type { MutableBag, ReportHeaderPolicy, ResponseFacts } from './attributes';
import type { AttributeBag } from './check-cache';
import { ReportError } from './mixer-calls';

/** Default cap on one report's body, bytes: half of Mixer's default MIXER_MAX_BODY_BYTES (1 MiB). */
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;

export interface ReportBatcherOptions {
  /** Sends one batch: each bag already encoded as JSON text. */
  send: (bags: readonly string[]) => Promise<void>;
  logger: Logger;
  /** Bags per report (default 100). */
  maxBatch?: number;
  /**
   * Bytes of bags per report (default {@link DEFAULT_MAX_BATCH_BYTES}); a batch is closed before a
   * bag would take it over (a single bag over it goes alone). Keep it under Mixer's MIXER_MAX_BODY_BYTES.
   */
  maxBatchBytes?: number;
  /** How `request.headers` goes into report bags (default: credentials redacted, 8 KiB). */
  headers?: ReportHeaderPolicy;
  /** Longest a bag waits for its batch to fill, ms (default 1000). */
  flushMs?: number;
  /** Most bags held (waiting or being retried); past it the oldest are dropped (default 10 000). */
  maxPending?: number;
  /** Reports in flight at once (default 4). */
  concurrency?: number;
  /** Tries per batch before it is dropped (default 5). */
  attempts?: number;
}

/** Counters shown on the sidecar's status page. */
export interface ReportStats {
  sent: number;
  dropped: number;
  failedBatches: number;
  /** Batches Mixer answered 413 that were split in two and sent again. */
  splitBatches: number;
  /** Headers cut or left out of report bags by the header cap. */
  headersCut: number;
}

/**
 * Batches report bags: a report goes when 100 bags or 512 KiB are waiting, or 1 s after the first
 * of them, whichever comes first. `add` never blocks and never throws: a request is never held up
 * by telemetry. Retryable failures are tried again with backoff; a batch answered 413 (too large for
 * Mixer) is split in two and both halves are sent again, so one large bag costs only itself; what
 * cannot be kept is dropped, counted, and logged at most once a minute.
 */
export class ReportBatcher {
  private buffer: string[] = [];
  /** Bytes of the bags in `buffer` (their JSON text; latin1/ASCII in practice, so characters). */
  private bufferBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly retries: Array<{ bags: string[]; attempt: number }> = [];
  /** Halves of batches answered 413, sent before new batches. */
  private readonly splits: Array<{ bags: string[]; attempt: number }> = [];
  private readonly running = new Set<Promise<void>>();
  private lastDropLog = 0;
  private closed = false;
  readonly stats: ReportStats = { sent: 0, dropped: 0, failedBatches: 0, splitBatches: 0, headersCut: 0 };
  private readonly countCut = (n: number): void => void (this.stats.headersCut += n);

  constructor(private readonly o: ReportBatcherOptions) {}

  private get maxBatch(): number {
    return this.o.maxBatch ?? 100;
  }

  private get maxBatchBytes(): number {
    return this.o.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  }

  /** Bags waiting to be sent (including batches waiting for a retry). */
  get pending(): number {
    let n = this.buffer.length;
    for (const r of this.retries) n += r.bags.length;
    for (const r of this.splits) n += r.bags.length;
    return n;
  }

  /** Queues a bag (encoded now, so the cost is spread over requests instead of paid per batch). */
  add(bag: AttributeBag): void {
    this.addJson(JSON.stringify(bag));
  }

  /** Queues the report of one request: `base` and `extra` with the response (see `reportJson`), headers under the policy. */
  addReport(base: MutableBag, response: ResponseFacts, extra?: MutableBag): void {
    this.addJson(reportJson(base, response, extra, this.o.headers ?? DEFAULT_REPORT_HEADERS, this.countCut));
  }

  /** Queues a bag already encoded as a JSON object. */
  addJson(json: string): void {
    if (this.pending >= (this.o.maxPending ?? 10_000)) {
      // The oldest go first: a waiting bag, else a whole batch waiting for its retry or resend (counted as what it held).
      let dropped = 1;
      if (this.buffer.length > 0) this.bufferBytes -= this.buffer.shift()!.length;
      else dropped = (this.retries.shift() ?? this.splits.shift())?.bags.length ?? 0;
      this.drop(dropped, 'too many reports waiting');
    }
    this.buffer.push(json);
    this.bufferBytes += json.length;
    if (this.buffer.length >= this.maxBatch || this.bufferBytes >= this.maxBatchBytes) this.flush();
    else this.arm();
  }

  /** The next batch from the buffer: at most maxBatch bags and maxBatchBytes (but always one bag). */
  private take(): string[] {
    let n = 0;
    let bytes = 2; // `[` and `]`
    while (n < this.buffer.length && n < this.maxBatch) {
      const len = this.buffer[n].length + 1;
      if (n > 0 && bytes + len > this.maxBatchBytes) break;
      bytes += len;
      n++;
    }
    const bags = this.buffer.splice(0, n);
    for (const b of bags) this.bufferBytes -= b.length;
    return bags;
  }

  /** Whether a full batch (by count or bytes) is waiting. */
  private get full(): boolean {
    return this.buffer.length >= this.maxBatch || this.bufferBytes >= this.maxBatchBytes;
  }

  /** Starts the flush timer unless one runs. */
  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.flushMs ?? 1000);
  }

  /** Sends what is waiting now (as many batches as the concurrency allows). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.inFlight < (this.o.concurrency ?? 4)) {
      let job: { bags: string[]; attempt: number } | undefined;
      if (this.splits.length > 0) job = this.splits.shift();
      else if (this.buffer.length > 0) job = { bags: this.take(), attempt: 1 };
      if (!job) break;
      this.launch(job);
    }
  }

  private launch(job: { bags: string[]; attempt: number }): void {
    this.inFlight++;
    const p = this.o
      .send(job.bags)
      .then(
        () => {
          this.stats.sent += job.bags.length;
        },
        (err: unknown) => {
          this.stats.failedBatches++;
          if (err instanceof ReportError && err.status === 413) return this.tooLarge(job);
          const retryable = !(err instanceof ReportError) || err.retryable;
          if (retryable && job.attempt < (this.o.attempts ?? 5) && !this.closed) {
            this.retries.push({ bags: job.bags, attempt: job.attempt + 1 });
            const t = setTimeout(() => this.retryOne(), Math.min(10_000, 250 * 2 ** job.attempt));
            t.unref();
          } else this.drop(job.bags.length, (err as Error).message);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.running.delete(p);
        if (this.full || (this.closed && this.buffer.length > 0) || this.splits.length > 0) this.flush();
        else if (this.buffer.length > 0) this.arm();
      });
    this.running.add(p);
  }

  /** A batch Mixer found too large: its halves are sent again at once (same attempt); a single bag is dropped. */
  private tooLarge(job: { bags: string[]; attempt: number }): void {
    if (job.bags.length === 1) return this.drop(1, 'a report bag is larger than Mixer accepts (HTTP 413)');
    this.stats.splitBatches++;
    const half = Math.ceil(job.bags.length / 2);
    this.splits.push({ bags: job.bags.slice(0, half), attempt: job.attempt }, { bags: job.bags.slice(half), attempt: job.attempt });
  }

  private retryOne(): void {
    const job = this.retries.shift();
    if (job) this.launch(job);
  }

  private drop(n: number, why: string): void {
    this.stats.dropped += n;
    const now = Date.now();
    if (now - this.lastDropLog > 60_000) {
      this.lastDropLog = now;
      this.o.logger.warn({ dropped: this.stats.dropped, reason: why }, 'reports dropped (they could not be delivered to Mixer)');
    }
  }

  /** Sends everything waiting and waits for reports in flight, at most `timeoutMs`. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      while (this.retries.length > 0) this.retryOne();
      this.flush();
      if (this.running.size === 0 && this.buffer.length === 0 && this.splits.length === 0) break;
      await Promise.race([Promise.all([...this.running]), new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
    }
    if (this.timer) clearTimeout(this.timer);
  }
}
