import type { Logger } from 'pino';
import type { AttributeBag } from './check-cache';
import { ReportError } from './mixer-calls';

export interface ReportBatcherOptions {
  /** Sends one batch: each bag already encoded as JSON text. */
  send: (bags: readonly string[]) => Promise<void>;
  logger: Logger;
  /** Bags per report (default 100). */
  maxBatch?: number;
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
}

/**
 * Batches report bags: a report goes when 100 bags are waiting or 1 s after the first of them,
 * whichever comes first. `add` never blocks and never throws: a request is never held up by
 * telemetry. Retryable failures are tried again with backoff; what cannot be kept is dropped,
 * counted, and logged at most once a minute.
 */
export class ReportBatcher {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly retries: Array<{ bags: string[]; attempt: number }> = [];
  private readonly running = new Set<Promise<void>>();
  private lastDropLog = 0;
  private closed = false;
  readonly stats: ReportStats = { sent: 0, dropped: 0, failedBatches: 0 };

  constructor(private readonly o: ReportBatcherOptions) {}

  private get maxBatch(): number {
    return this.o.maxBatch ?? 100;
  }

  /** Bags waiting to be sent (including batches waiting for a retry). */
  get pending(): number {
    let n = this.buffer.length;
    for (const r of this.retries) n += r.bags.length;
    return n;
  }

  /** Queues a bag (encoded now, so the cost is spread over requests instead of paid per batch). */
  add(bag: AttributeBag): void {
    this.addJson(JSON.stringify(bag));
  }

  /** Queues a bag already encoded as a JSON object. */
  addJson(json: string): void {
    if (this.pending >= (this.o.maxPending ?? 10_000)) {
      // The oldest go first: a waiting bag, else a whole batch waiting for its retry (counted as what it held).
      let dropped = 1;
      if (this.buffer.length > 0) this.buffer.shift();
      else dropped = this.retries.shift()?.bags.length ?? 0;
      this.drop(dropped, 'too many reports waiting');
    }
    this.buffer.push(json);
    if (this.buffer.length >= this.maxBatch) this.flush();
    else this.arm();
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
      if (this.buffer.length > 0) job = { bags: this.buffer.splice(0, this.maxBatch), attempt: 1 };
      else break;
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
        if (this.buffer.length >= this.maxBatch || (this.closed && this.buffer.length > 0)) this.flush();
        else if (this.buffer.length > 0) this.arm();
      });
    this.running.add(p);
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
      if (this.running.size === 0 && this.buffer.length === 0) break;
      await Promise.race([Promise.all([...this.running]), new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
    }
    if (this.timer) clearTimeout(this.timer);
  }
}
