import { randomUUID } from 'node:crypto';
import { FlowProducer, Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { connectRedis } from '../base/redis-connect';
import type { RedisConnection, RedisSpec } from '../base/redis-connect';
import { spreadTags } from '../base/hash-tags';
import { ReplicaWaiter } from '../base/redis-replicas';
import type { BagValues } from '../attributes/bag';
import { MixerError } from '../base/errors';
import { withTimeout } from '../base/timeout';
import { runAttempt } from './attempt';
import type { AttemptDeps } from './attempt';
import type { Counter } from 'prom-client';
import { BatchMissingError, BatchStore } from './batch-store';
import { lettersToReplay } from './dead-letters';
import type { DeadLetterDropSink, DeadLetterLimits } from './dead-letters';
import { RedisDeadLetters } from './redis-dead-letters';
import { RemovedHandlers } from './removed-handlers';
import { ReportGroups } from './report-groups';
import { backoffDelay, batchIdOf, batchTtlMs, queueAttempts } from './report-queue';
import type { DeadLetter, DeadLetterPage, EnqueueOptions, QueueDepth, ReportQueue } from './report-queue';

const BATCH_QUEUE = 'reports';

/**
 * Unkeyed batches go to one shard in runs of this many, then to the next. Over time the shards
 * share the load evenly, as round robin does, but each shard's workers see batches in runs: they
 * take the next job as they finish one instead of each batch waking a blocked worker on every
 * shard (a blocking pop and an empty move per job: one shard's Redis commands per batch rose by a
 * fifth, and Mixer's CPU per bag by half, with round robin over 3 shards in `report --cluster`).
 */
export const SHARD_RUN = 16;

/**
 * Unkeyed reports are queued by group commit ({@link ReportGroups}): while this many batches are
 * being queued, reports that arrive wait and go together as one batch. One: the writes of a batch
 * (its bags, its flow, the wait for replicas) go over one connection, where Redis runs them in turn
 * anyway, and `WAIT` holds that connection until it returns.
 */
export const GROUP_IN_FLIGHT = 1;

/** Longest the writes of one batch may take before its callers are answered 503; also the longest a report waits in a group. */
const ENQUEUE_TIMEOUT_MS = 3000;

/** Queue of one handler's deliveries (queue names may not contain `:`). */
export function handlerQueueName(handler: string): string {
  return `handler/${handler}`;
}

/** Parent job data: the batch's bags are in the {@link BatchStore}, under the parent's id. */
type ParentData = Record<string, never>;

/** What the Redis queue needs besides an attempt's dependencies. */
export interface BullmqQueueDeps extends Omit<AttemptDeps, 'deadLetters'> {
  /** Bounds of each handler's dead letters (default `DEFAULT_DEAD_LETTER_LIMITS`). */
  deadLetterLimits?: DeadLetterLimits;
  /** Told of dead letters dropped (caps, TTL). */
  onDeadLetterDrop?: DeadLetterDropSink;
  /** `mixer_queue_discarded_total{handler, reason}`: batches removed undelivered. */
  discarded?: Counter<'handler' | 'reason'>;
  /** Queue shards, each on its own hash slot (default 1). Every process must use the same number. */
  shards?: number;
  /** Told of a queued batch acknowledged by fewer Redis replicas than expected (see ReplicaWaiter). */
  onUnreplicated?: (expected: number, acked: number) => void;
  /** Told, for every unkeyed batch queued, how many reports it holds (see {@link ReportGroups}). */
  onBatch?: (reports: number) => void;
  /**
   * The largest report Mixer takes (MIXER_MAX_BAGS, and MIXER_MAX_BODY_BYTES as received): a batch of
   * grouped reports is never larger (a single report is never refused for it).
   */
  reportLimits: { maxBags: number; maxBytes: number };
}

/** One shard of the queue: its own `reports` queue, handler queues and stored batches, all under one hash tag. */
interface Shard {
  readonly index: number;
  /** BullMQ's key prefix, `<prefix>{<tag>}`: every key of the shard shares the tag (flows are one MULTI). */
  readonly bullPrefix: string;
  readonly batches: BatchStore;
  readonly queues: Map<string, Queue>;
  readonly workers: Map<string, Worker>;
  batchWorker?: Worker;
}

interface ChildData {
  handler: string;
  /** Present on replayed dead letters, which no longer have a parent batch. */
  bags?: BagValues[];
  /** Batch id, so a replay keeps the id adapters use as their once-per-job marker. */
  batch?: string;
}

/**
 * The Redis queue (BullMQ). A report is the batch's bags, written once under their own key, then one
 * flow: a parent job in queue `reports` naming that key, with one child job per handler in that
 * handler's own queue (added atomically; 202 only after both). Every child reads the same bags, so
 * they are stored once however many handlers take them; the parent runs once every child is done and
 * deletes them. The bags stay out of the job hashes on purpose: BullMQ reads and parses a job's whole
 * data each time the job becomes active, and the parent's would be the full batch again.
 * Retries use BullMQ's backoff; batches a handler keeps failing go to the dead-letter store.
 * Reports without an idempotency key and of known size may share a batch ({@link ReportGroups}): under
 * load, those that arrive while a batch is being queued go together in the next one.
 *
 * The queue is split into shards (`shards`, MIXER_QUEUE_SHARDS): each has its own `reports` queue,
 * handler queues and stored batches under one hash tag, so a flow stays on one slot of a Redis
 * Cluster while batches spread over the shards (in runs of {@link SHARD_RUN}); workers consume every shard. Before
 * answering, the producer waits for the shard's connected replicas (see {@link ReplicaWaiter}).
 */
export class BullmqQueue implements ReportQueue {
  readonly kind = 'redis' as const;
  private readonly producerConn: RedisConnection;
  private readonly workerConn: RedisConnection;
  private readonly flows: FlowProducer;
  private readonly shards: Shard[];
  private next = 0;
  private workersOn = false;
  private readonly waiter: ReplicaWaiter;
  private unsubscribe: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  readonly deadLetterStore: RedisDeadLetters;
  private readonly attemptDeps: AttemptDeps;
  private readonly removed: RemovedHandlers;
  private readonly groups: ReportGroups;

  constructor(
    redis: RedisSpec,
    prefix: string,
    private readonly deps: BullmqQueueDeps,
  ) {
    // Producer: fail fast when Redis is away, so /v1/report answers 503 instead of hanging.
    this.producerConn = connectRedis(redis, 'command');
    this.producerConn.on('error', () => undefined);
    // Workers: BullMQ needs maxRetriesPerRequest null for its blocking connections.
    this.workerConn = connectRedis(redis, 'blocking');
    this.workerConn.on('error', () => undefined);
    this.flows = new FlowProducer({ connection: this.producerConn, prefix: `${prefix}bull` });
    this.flows.on('error', () => undefined);
    this.waiter = new ReplicaWaiter(this.producerConn, { onUnreplicated: deps.onUnreplicated });
    const ttl = batchTtlMs(deps.delivery);
    this.shards = spreadTags('q', deps.shards ?? 1).map((tag, index) => {
      const bullPrefix = `${prefix}{${tag}}`;
      return { index, bullPrefix, batches: new BatchStore(this.producerConn, `${bullPrefix}:`, ttl), queues: new Map(), workers: new Map() };
    });
    this.groups = new ReportGroups(
      (bags, handlers) => this.queueBatch(randomUUID(), this.nextShard(), bags, handlers, false),
      { maxInFlight: GROUP_IN_FLIGHT, ...deps.reportLimits, maxWaitMs: ENQUEUE_TIMEOUT_MS },
      deps.onBatch,
    );
    this.deadLetterStore = new RedisDeadLetters(this.producerConn, prefix, deps.deadLetterLimits, deps.onDeadLetterDrop);
    this.attemptDeps = { ...deps, deadLetters: this.deadLetterStore };
    this.removed = new RemovedHandlers(
      { producer: this.producerConn, worker: this.workerConn, bullPrefixes: this.shards.map((s) => s.bullPrefix), prefix, queueName: handlerQueueName },
      deps.delivery.removedHandlerGraceMs,
      (h) => this.deps.store.current.reportHandlers.includes(h),
      deps.discarded,
      deps.log,
      deps.logger,
    );
  }

  /** Resolves once the producer connection is ready (at once when it is). */
  private connected(): Promise<void> {
    if (this.producerConn.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.producerConn.once('ready', () => resolve()));
  }

  /** BullMQ prefixes of the shards, in order (for tools and tests that look at the keys). */
  get bullPrefixes(): string[] {
    return this.shards.map((s) => s.bullPrefix);
  }

  /** The shard of the next unkeyed batch: the same one for {@link SHARD_RUN} batches, then the next. */
  private nextShard(): Shard {
    return this.shards[Math.floor(this.next++ / SHARD_RUN) % this.shards.length];
  }

  private queue(shard: Shard, handler: string): Queue {
    let q = shard.queues.get(handler);
    if (!q) {
      q = new Queue(handlerQueueName(handler), { connection: this.producerConn, prefix: shard.bullPrefix });
      q.on('error', () => undefined);
      shard.queues.set(handler, q);
    }
    return q;
  }

  private childOpts(id: string) {
    return {
      jobId: id,
      // BullMQ may retry a few times more than the policy, so a failed dead-letter write is retried too.
      attempts: queueAttempts(this.deps.delivery),
      backoff: { type: 'custom' },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600 },
      ignoreDependencyOnFailure: true,
    };
  }

  async enqueue(bags: readonly BagValues[], handlers: readonly string[], opts: EnqueueOptions = {}): Promise<string> {
    const key = opts.idempotencyKey;
    if (handlers.length === 0) return key !== undefined ? batchIdOf(key) : randomUUID();
    if (this.closing) throw new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', 'shutting down: not taking reports', { retryable: true });
    // A keyed batch is queued alone, under the id of its key, and always on the same shard, so a
    // second send meets the first's job (BullMQ keeps one job per id). Others may be grouped.
    if (key === undefined) return this.groups.add(bags, handlers, opts.bytes);
    const id = batchIdOf(key);
    return this.queueBatch(id, this.shards[parseInt(id.slice(2, 10), 16) % this.shards.length], bags, handlers, true);
  }

  /** Stores the bags of batch `id` on `shard` and adds its flow; resolves once both are on the shard's replicas. */
  private async queueBatch(id: string, shard: Shard, bags: readonly BagValues[], handlers: readonly string[], keyed: boolean): Promise<string> {
    let stored = false;
    try {
      await withTimeout(
        (async () => {
          await shard.batches.put(id, bags);
          stored = true;
          await this.flows.add({
            name: 'batch',
            queueName: BATCH_QUEUE,
            prefix: shard.bullPrefix,
            data: {} satisfies ParentData,
            // The parent's only work is deleting the bags: retried if Redis blinks.
            opts: { jobId: id, removeOnComplete: true, removeOnFail: true, attempts: 10, backoff: { type: 'exponential', delay: 1000 } },
            children: handlers.map((handler) => ({
              name: 'deliver',
              queueName: handlerQueueName(handler),
              prefix: shard.bullPrefix,
              data: { handler } satisfies ChildData,
              opts: this.childOpts(id),
            })),
          });
          // The bags and the flow are on the shard's primary: wait for its replicas before saying 202.
          await this.waiter.settle(shard.batches.key(id));
        })(),
        ENQUEUE_TIMEOUT_MS,
        'queueing the batch in Redis',
      );
    } catch (err) {
      // No flow, no reader: the bags alone would never be deleted (best effort; Redis may be away).
      // A keyed batch keeps them: an earlier send of it may be queued and reading them.
      if (stored && !keyed) {
        shard.batches
          .delete(id)
          .catch((e: unknown) =>
            this.deps.logger.warn({ batch: id, err: (e as Error).message }, 'could not delete the bags of a batch that was not queued; they stay in Redis'),
          );
      }
      throw new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', `the report could not be queued: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    return id;
  }

  /** True once every shard's batch worker and the handler workers started with them are connected. */
  consuming = false;

  startWorkers(): void {
    if (this.workersOn || this.closing) return;
    this.workersOn = true;
    for (const shard of this.shards) {
      // Parents become runnable once every child is done: the bags are no longer needed.
      shard.batchWorker = new Worker(BATCH_QUEUE, (job: Job<ParentData>) => shard.batches.delete(job.id!), {
        connection: this.workerConn,
        prefix: shard.bullPrefix,
        concurrency: 16,
      });
      shard.batchWorker.on('error', (err) => this.deps.log.warn('worker:reports', { err: err.message }, 'batch worker error'));
    }
    this.sync(this.deps.store.current.reportHandlers);
    this.unsubscribe = this.deps.store.onChange((s) => this.sync(s.reportHandlers));
    const started = this.shards.flatMap((s) => [s.batchWorker!, ...s.workers.values()]);
    void Promise.all(started.map((w) => w.waitUntilReady())).then(
      () => (this.consuming = true),
      (err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'report workers could not connect; readiness stays false'),
    );
    void this.connected()
      .then(() => this.removed.adoptOrphans())
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { err: (err as Error).message },
          'cannot list the queues of removed handlers (Redis down?); they are looked for at the next start',
        ),
      );
  }

  /** Runs one worker per handler of the live config and shard; handlers that left the config stop being consumed. */
  private sync(handlers: readonly string[]): void {
    if (this.closing) return;
    const want = new Set(handlers);
    const running = this.shards[0].workers;
    const added = [...want].filter((h) => !running.has(h));
    const gone = [...running.keys()].filter((h) => !want.has(h));
    void this.connected()
      .then(() => this.removed.live(added))
      .catch((err: unknown) => this.deps.log.warn('queue-handlers', { err: (err as Error).message }, 'cannot record the handlers that have queues'));
    for (const shard of this.shards) {
      for (const h of added) shard.workers.set(h, this.startHandlerWorker(shard, h));
      for (const h of gone) {
        void shard.workers.get(h)?.close();
        shard.workers.delete(h);
      }
    }
    for (const h of gone) this.removed.removed(h);
  }

  private startHandlerWorker(shard: Shard, handler: string): Worker {
    const w = new Worker(handlerQueueName(handler), (job: Job<ChildData>) => this.process(shard, handler, job), {
      connection: this.workerConn,
      prefix: shard.bullPrefix,
      concurrency: this.deps.delivery.concurrency,
      lockDuration: 15_000,
      stalledInterval: 5_000,
      maxStalledCount: 10,
      settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade, this.deps.delivery) },
    });
    w.on('error', (err) => this.deps.log.warn(`worker:${handler}`, { handler, err: err.message }, 'handler worker error (Redis down?)'));
    return w;
  }

  private async process(shard: Shard, handler: string, job: Job<ChildData>): Promise<string> {
    const batch = job.data.batch ?? job.id!;
    let bags = job.data.bags;
    if (!bags) {
      try {
        const parent = job.parent;
        if (!parent?.id) throw new Error(`job ${job.id} has neither bags nor a parent batch`);
        bags = await shard.batches.get(parent.id);
      } catch (err) {
        if (!(err instanceof BatchMissingError)) throw err;
        // Its TTL passed (it waited longer than a day beyond its retries): nothing left to deliver.
        this.deps.discarded?.inc({ handler, reason: 'batch_expired' });
        this.deps.log.warn(`expired:${handler}`, { handler, batch }, 'a queued batch outlived its TTL in Redis and cannot be delivered');
        return 'expired';
      }
    }
    return runAttempt(this.attemptDeps, handler, batch, bags, job.attemptsMade + 1);
  }

  async depth(): Promise<QueueDepth> {
    const d: QueueDepth = { waiting: 0, active: 0, delayed: 0, failed: 0 };
    const handlers = new Set([...this.shards[0].workers.keys(), ...this.deps.store.current.reportHandlers]);
    const pairs = this.shards.flatMap((shard) => [...handlers].map((h) => this.queue(shard, h)));
    await Promise.all(
      pairs.map(async (q) => {
        const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused');
        d.waiting += (c.wait ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0);
        d.active += c.active ?? 0;
        d.delayed += c.delayed ?? 0;
      }),
    );
    for (const n of Object.values(await this.deadLetterStore.counts())) d.failed += n;
    return d;
  }

  deadLetterPage(handler: string, opts: { limit: number; cursor?: string }): Promise<DeadLetterPage> {
    return this.deadLetterStore.page(handler, opts.limit, opts.cursor);
  }

  deadLetter(handler: string, id: string): Promise<DeadLetter | undefined> {
    return this.deadLetterStore.get(handler, id);
  }

  async replay(handler: string, ids?: readonly string[]): Promise<number> {
    const all = await lettersToReplay(this.deadLetterStore, handler, ids);
    for (const dl of all) {
      const data: ChildData = { handler, bags: [...dl.bags], batch: dl.id };
      const shard = this.nextShard();
      await this.queue(shard, handler).add('deliver', data, { ...this.childOpts(`${dl.id}-replay-${Date.now()}`), ignoreDependencyOnFailure: undefined });
      await this.deadLetterStore.remove(handler, dl.id);
    }
    return all.length;
  }

  deadLetterCounts(): Promise<Record<string, number>> {
    return this.deadLetterStore.counts();
  }

  /** Stops consuming (active jobs finish first), then closes the connections. Safe twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.unsubscribe?.();
      // Reports already taken wait in a group or are being queued: they are answered first.
      await this.groups.idle();
      this.waiter.close();
      await this.removed.close();
      await Promise.all(this.shards.flatMap((s) => [...s.workers.values()].map((w) => w.close())));
      await Promise.all(this.shards.map((s) => s.batchWorker?.close() ?? Promise.resolve()));
      await Promise.all(this.shards.flatMap((s) => [...s.queues.values()].map((q) => q.close())));
      await this.flows.close();
      const quit = (conn: { quit(): Promise<unknown> }, which: string) =>
        conn
          .quit()
          .catch((e: unknown) => this.deps.logger.debug({ err: (e as Error).message }, `closing the ${which} Redis connection failed (it was already gone)`));
      await Promise.all([quit(this.producerConn, 'producer'), quit(this.workerConn, 'worker')]);
    })();
    return this.closing;
  }
}
