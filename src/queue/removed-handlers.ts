import { Queue, Worker } from 'bullmq';
import type { RedisConnection } from '../base/redis-connect';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { ThrottledLog } from '../base/throttled-log';

/** Where the queue of a handler lives (see `BullmqQueue`). */
export interface HandlerQueueSpace {
  producer: RedisConnection;
  worker: RedisConnection;
  /** BullMQ's key prefixes, one per queue shard: a handler has a queue in each. */
  bullPrefixes: readonly string[];
  /** Mixer's key prefix (for the set of handlers that have had a queue). */
  prefix: string;
  queueName(handler: string): string;
}

/** How often a drain looks whether the removed handler's queue is empty, ms. */
const EMPTY_CHECK_MS = 2000;

/**
 * The queues of handlers that left the config. Every handler that gets a queue is named in the set
 * `<prefix>queue-handlers`; one that is not in the live config for `graceMs` (from when this process
 * saw it go, or started without it) has its queued batches removed: a worker takes each job and
 * completes it without delivering (so its batch is released as usual), counts it in
 * `discarded{handler, reason="handler_removed"}` and logs once per interval. A handler that comes
 * back in time keeps its queue; one that comes back during the drain stops it. Any process running
 * workers may drain; BullMQ gives each job to one of them.
 */
export class RemovedHandlers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly drains = new Map<string, { shards: Array<{ worker: Worker; queue: Queue }>; check: NodeJS.Timeout; discarded: number }>();
  private closed = false;

  constructor(
    private readonly space: HandlerQueueSpace,
    private readonly graceMs: number,
    private readonly isLive: (handler: string) => boolean,
    private readonly discarded: Counter<'handler' | 'reason'> | undefined,
    private readonly log: ThrottledLog,
    private readonly logger: Logger,
  ) {}

  private get setKey(): string {
    return `${this.space.prefix}queue-handlers`;
  }

  /** Records that these handlers have queues; stops the drain of any that came back. */
  async live(handlers: readonly string[]): Promise<void> {
    for (const h of handlers) {
      const t = this.timers.get(h);
      if (t) clearTimeout(t);
      this.timers.delete(h);
      await this.stopDrain(h);
    }
    if (handlers.length > 0) await this.space.producer.sadd(this.setKey, ...handlers);
  }

  /** Handlers named in Redis that the live config lacks: each gets its grace period. */
  async adoptOrphans(): Promise<void> {
    for (const h of await this.space.producer.smembers(this.setKey)) if (!this.isLive(h)) this.removed(h);
  }

  /** `handler` left the config: its queue is drained once `graceMs` has passed without it coming back. */
  removed(handler: string): void {
    if (this.closed || this.timers.has(handler) || this.drains.has(handler)) return;
    this.logger.info({ handler, graceMs: this.graceMs }, 'handler left the config: its queued batches are removed after the grace period unless it comes back');
    const t = setTimeout(() => {
      this.timers.delete(handler);
      if (!this.isLive(handler)) this.startDrain(handler);
    }, this.graceMs);
    t.unref();
    this.timers.set(handler, t);
  }

  private startDrain(handler: string): void {
    if (this.closed || this.drains.has(handler)) return;
    const name = this.space.queueName(handler);
    const entry = { shards: [] as Array<{ worker: Worker; queue: Queue }>, check: undefined as unknown as NodeJS.Timeout, discarded: 0 };
    for (const prefix of this.space.bullPrefixes) {
      const queue = new Queue(name, { connection: this.space.producer, prefix });
      queue.on('error', () => undefined);
      const worker = new Worker(
        name,
        () => {
          entry.discarded++;
          this.discarded?.inc({ handler, reason: 'handler_removed' });
          this.log.warn(`removed:${handler}`, { handler, discarded: entry.discarded }, 'removing the queued batches of a handler that left the config');
          return Promise.resolve('discarded');
        },
        { connection: this.space.worker, prefix, concurrency: 32 },
      );
      worker.on('error', () => undefined);
      // Batches waiting out a backoff are taken now rather than when it ends.
      void queue.promoteJobs().catch(() => undefined);
      entry.shards.push({ worker, queue });
    }
    entry.check = setInterval(() => void this.finishIfEmpty(handler), EMPTY_CHECK_MS);
    entry.check.unref();
    this.drains.set(handler, entry);
  }

  private async finishIfEmpty(handler: string): Promise<void> {
    const d = this.drains.get(handler);
    if (!d) return;
    try {
      let busy = false;
      for (const { queue } of d.shards) {
        const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children');
        if (Object.values(c).some((n) => n > 0)) {
          busy = true;
          if ((c.delayed ?? 0) > 0) await queue.promoteJobs();
        }
      }
      if (busy || this.drains.get(handler) !== d) return;
      await this.stopDrain(handler);
      await this.space.producer.srem(this.setKey, handler);
      this.logger.warn({ handler, discarded: d.discarded }, 'queue of a removed handler drained: its batches were removed');
    } catch (err) {
      this.log.warn(`removed-check:${handler}`, { handler, err: (err as Error).message }, 'cannot check the queue of a removed handler (Redis down?)');
    }
  }

  private async stopDrain(handler: string): Promise<void> {
    const d = this.drains.get(handler);
    if (!d) return;
    this.drains.delete(handler);
    clearInterval(d.check);
    await Promise.all(d.shards.map((s) => s.worker.close()));
    await Promise.all(d.shards.map((s) => s.queue.close()));
  }

  /** Stops every timer and drain. Safe twice. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.drains.keys()].map((h) => this.stopDrain(h)));
  }
}
