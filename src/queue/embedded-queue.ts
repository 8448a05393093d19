import { randomUUID } from 'node:crypto';
import type { BagValues } from '../attributes/bag';
import { MixerError } from '../base/errors';
import { runAttempt, RetryLater } from './attempt';
import type { Counter } from 'prom-client';
import type { AttemptDeps } from './attempt';
import { lettersToReplay } from './dead-letters';
import type { MemoryDeadLetters } from './dead-letters';
import { backoffDelay, batchIdOf } from './report-queue';
import type { DeadLetter, DeadLetterPage, EnqueueOptions, QueueDepth, ReportQueue } from './report-queue';

interface Item {
  id: string;
  bags: readonly BagValues[];
  attempt: number;
}

/** One handler's lane: its own pending list and concurrency, so handlers never wait on each other. */
class Lane {
  readonly pending: Item[] = [];
  active = 0;
  delayed = 0;
  /** Set while the handler is out of the live config: when its grace period ends. */
  removal: NodeJS.Timeout | undefined;
  constructor(readonly handler: string) {}
}

/**
 * The embedded in-process queue (no `REDIS_URL`): same interface and delivery semantics as the
 * Redis queue, held in memory. Bounded by `maxBatches` (then enqueue answers 503); shutdown drains it;
 * a crash loses it. The batches of a handler that leaves the config are held for
 * `delivery.removedHandlerGraceMs`, then removed (counted in `discarded{reason="handler_removed"}`
 * and logged) unless it came back; at shutdown they are removed at once.
 */
export class EmbeddedQueue implements ReportQueue {
  readonly kind = 'embedded' as const;
  private readonly lanes = new Map<string, Lane>();
  /** Batches waiting out a backoff, by their timer. */
  private readonly delayed = new Map<NodeJS.Timeout, { lane: Lane; item: Item }>();
  private readonly idle = new Set<() => void>();
  private running = false;
  private closing: Promise<void> | undefined;
  private queued = 0;

  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: AttemptDeps & { deadLetters: MemoryDeadLetters; discarded?: Counter<'handler' | 'reason'> },
    private readonly maxBatches = 10_000,
  ) {}

  private isLive(handler: string): boolean {
    return this.deps.store.current.reportHandlers.includes(handler);
  }

  async enqueue(bags: readonly BagValues[], handlers: readonly string[], opts: EnqueueOptions = {}): Promise<string> {
    if (this.closing) throw new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', 'shutting down: not taking reports', { retryable: true });
    if (this.queued + handlers.length > this.maxBatches) {
      throw new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', `embedded queue is full (${this.maxBatches} batches waiting); retry later`, { retryable: true });
    }
    const id = opts.idempotencyKey !== undefined ? batchIdOf(opts.idempotencyKey) : randomUUID();
    for (const h of handlers) this.push(h, { id, bags, attempt: 0 });
    return id;
  }

  get consuming(): boolean {
    return this.running;
  }

  startWorkers(): void {
    this.running = true;
    this.unsubscribe ??= this.deps.store.onChange(() => {
      for (const lane of this.lanes.values()) this.pump(lane);
    });
    for (const lane of this.lanes.values()) this.pump(lane);
  }

  /** The lane's handler is not in the live config: its batches wait out the grace period, then go. */
  private hold(lane: Lane): void {
    if (lane.removal || this.closing) return;
    this.deps.logger.info(
      { handler: lane.handler, graceMs: this.deps.delivery.removedHandlerGraceMs },
      'handler left the config: its queued batches are removed after the grace period unless it comes back',
    );
    lane.removal = setTimeout(() => {
      lane.removal = undefined;
      if (this.isLive(lane.handler)) this.pump(lane);
      else this.discard(lane);
    }, this.deps.delivery.removedHandlerGraceMs);
    lane.removal.unref();
  }

  /** Removes the lane's waiting batches, counted and logged (batches in a backoff go when it ends). */
  private discard(lane: Lane): void {
    const n = lane.pending.length;
    if (n === 0) return;
    lane.pending.length = 0;
    this.queued -= n;
    this.deps.discarded?.inc({ handler: lane.handler, reason: 'handler_removed' }, n);
    this.deps.logger.warn({ handler: lane.handler, discarded: n }, 'removed the queued batches of a handler that left the config');
    if (this.queued === 0) for (const fn of this.idle) fn();
  }

  private lane(handler: string): Lane {
    let l = this.lanes.get(handler);
    if (!l) this.lanes.set(handler, (l = new Lane(handler)));
    return l;
  }

  private push(handler: string, item: Item): void {
    const lane = this.lane(handler);
    lane.pending.push(item);
    this.queued++;
    this.pump(lane);
  }

  private pump(lane: Lane): void {
    if (!this.running) return;
    if (!this.isLive(lane.handler)) {
      if (this.closing) this.discard(lane);
      else if (lane.pending.length > 0) this.hold(lane);
      return;
    }
    if (lane.removal) {
      clearTimeout(lane.removal);
      lane.removal = undefined;
    }
    while (lane.active < this.deps.delivery.concurrency && lane.pending.length > 0) {
      const item = lane.pending.shift()!;
      lane.active++;
      item.attempt++;
      runAttempt(this.deps, lane.handler, item.id, item.bags, item.attempt)
        .then(
          () => this.queued--,
          (err: unknown) => {
            if (!(err instanceof RetryLater)) {
              // The dead-letter write itself failed (cannot happen in memory); keep the batch.
              this.deps.logger.error({ err, handler: lane.handler }, 'delivery bookkeeping failed; retrying');
            }
            lane.delayed++;
            const t = setTimeout(() => this.wake(t), this.closing ? 0 : backoffDelay(item.attempt, this.deps.delivery));
            this.delayed.set(t, { lane, item });
          },
        )
        .finally(() => {
          lane.active--;
          this.pump(lane);
          if (this.queued === 0) for (const fn of this.idle) fn();
        });
    }
  }

  /** A backoff is over (or cut short by shutdown): the batch goes back to its lane. */
  private wake(t: NodeJS.Timeout): void {
    const entry = this.delayed.get(t);
    if (!entry) return;
    clearTimeout(t);
    this.delayed.delete(t);
    entry.lane.delayed--;
    entry.lane.pending.push(entry.item);
    this.pump(entry.lane);
  }

  async depth(): Promise<QueueDepth> {
    const d: QueueDepth = { waiting: 0, active: 0, delayed: 0, failed: 0 };
    for (const l of this.lanes.values()) {
      d.waiting += l.pending.length;
      d.active += l.active;
      d.delayed += l.delayed;
    }
    for (const n of Object.values(await this.deps.deadLetters.counts())) d.failed += n;
    return d;
  }

  deadLetterPage(handler: string, opts: { limit: number; cursor?: string }): Promise<DeadLetterPage> {
    return this.deps.deadLetters.page(handler, opts.limit, opts.cursor);
  }

  deadLetter(handler: string, id: string): Promise<DeadLetter | undefined> {
    return this.deps.deadLetters.get(handler, id);
  }

  async replay(handler: string, ids?: readonly string[]): Promise<number> {
    const all = await lettersToReplay(this.deps.deadLetters, handler, ids);
    for (const dl of all) {
      await this.deps.deadLetters.remove(handler, dl.id);
      this.push(handler, { id: dl.id, bags: dl.bags, attempt: 0 });
    }
    return all.length;
  }

  deadLetterCounts(): Promise<Record<string, number>> {
    return this.deps.deadLetters.counts();
  }

  /** Drains: waits until every queued batch is delivered or dead-lettered (retries run at once), up to `timeoutMs`. */
  close(timeoutMs = 30_000): Promise<void> {
    this.closing ??= (async () => {
      this.unsubscribe?.();
      for (const l of this.lanes.values()) if (l.removal) clearTimeout(l.removal);
      this.running = true;
      for (const t of [...this.delayed.keys()]) this.wake(t);
      for (const l of this.lanes.values()) this.pump(l);
      // Handlers that left the config: nothing will deliver their batches now.
      for (const l of this.lanes.values()) if (!this.isLive(l.handler)) this.discard(l);
      if (this.queued > 0) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            this.idle.delete(done);
            resolve();
          };
          const t = setTimeout(done, timeoutMs);
          this.idle.add(done);
        });
      }
      if (this.queued > 0) this.deps.logger.error({ batches: this.queued }, 'embedded queue: batches still undelivered at shutdown are lost');
      this.running = false;
    })();
    return this.closing;
  }
}
