import { createHash } from 'node:crypto';
import type { BagValues } from '../attributes/bag';

/** A report batch that a handler kept failing: kept for an operator to inspect and replay. */
export interface DeadLetter {
  /** Id of the job (the batch id: the same for every handler the batch went to). */
  id: string;
  handler: string;
  /** Bags of the batch (the handler's instances are built from them again on replay). */
  bags: readonly BagValues[];
  attempts: number;
  /** The last error, as text. */
  error: string;
  permanent: boolean;
  /** When it was dead-lettered, ISO 8601. */
  failedAt: string;
}

/** A dead letter as listed: everything but the bags, with their count and the entry's size. */
export interface DeadLetterSummary {
  id: string;
  handler: string;
  /** How many bags the batch holds. */
  bags: number;
  /** Bytes the dead letter takes (its JSON), held against the handler's byte cap. */
  bytes: number;
  attempts: number;
  error: string;
  permanent: boolean;
  failedAt: string;
}

/** One page of a handler's dead letters, newest first. */
export interface DeadLetterPage {
  items: DeadLetterSummary[];
  /** Dead letters the handler has now (not expired). */
  count: number;
  /** Pass as `cursor` for the next page; absent on the last page. */
  next?: string;
}

/** Job counts over every handler queue, by state (for `mixer_queue_depth{state}`). */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** Delivery policy of the core (retries live here, never in adapters). */
export interface DeliveryOptions {
  /** Attempts per handler before a batch is dead-lettered (MIXER_REPORT_ATTEMPTS, default 12). */
  attempts: number;
  /** First retry delay, ms (default 500); doubles each attempt, with ±50% jitter. */
  backoffMs: number;
  /** Longest retry delay, ms (default 30 000). */
  maxBackoffMs: number;
  /** Longest one `report()` call may take, ms (default 30 000); past it the attempt fails and is retried. */
  timeoutMs: number;
  /** Batches one handler processes at once (default 4). */
  concurrency: number;
  /**
   * How long the queued batches of a handler that left the config are kept in case it comes back,
   * ms (MIXER_REMOVED_HANDLER_GRACE_MS, default 10 min); then they are removed, counted and logged.
   */
  removedHandlerGraceMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  attempts: 12,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  timeoutMs: 30_000,
  concurrency: 4,
  removedHandlerGraceMs: 600_000,
};

/** Attempts the Redis queue allows a delivery: the policy's, and a few more in case a dead-letter write fails. */
export function queueAttempts(d: Pick<DeliveryOptions, 'attempts'>): number {
  return d.attempts + 5;
}

/** What a batch may wait in its queue before its first attempt, beyond its retries: one day. */
export const QUEUE_WAIT_ALLOWANCE_MS = 24 * 3_600_000;

/**
 * The longest a delivery can take from its first attempt to its last, ms: every attempt running
 * into the timeout and every backoff at its longest (the cap, plus the 50% jitter).
 */
export function longestRetryScheduleMs(d: Pick<DeliveryOptions, 'attempts' | 'backoffMs' | 'maxBackoffMs' | 'timeoutMs'>): number {
  let total = 0;
  for (let a = 1; a <= queueAttempts(d); a++) total += d.timeoutMs + 1.5 * Math.min(d.maxBackoffMs, d.backoffMs * 2 ** (a - 1));
  return Math.ceil(total);
}

/** TTL of a stored batch's bags, ms: the longest retry schedule plus {@link QUEUE_WAIT_ALLOWANCE_MS}. */
export function batchTtlMs(d: Pick<DeliveryOptions, 'attempts' | 'backoffMs' | 'maxBackoffMs' | 'timeoutMs'>): number {
  return longestRetryScheduleMs(d) + QUEUE_WAIT_ALLOWANCE_MS;
}

/** Exponential backoff with jitter: attempt 1 waits ~backoffMs, then doubling, capped. */
export function backoffDelay(attemptsMade: number, opts: Pick<DeliveryOptions, 'backoffMs' | 'maxBackoffMs'>): number {
  const base = Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base * (0.5 + Math.random()));
}

/** How one batch is enqueued. */
export interface EnqueueOptions {
  /**
   * The client's key for this batch (`Idempotency-Key` on `POST /v1/report`): the same key gives the
   * same batch id, so a batch sent again after an answer that was lost, or after a 503 that came
   * when it was in fact queued, is delivered once (the queue keeps one job per id, and adapters'
   * once-per-job markers cover a batch already delivered, for as long as they keep them: an hour or more).
   */
  idempotencyKey?: string;
  /**
   * The report's size as received, bytes (`POST /v1/report`: its body; gRPC: its messages on the wire).
   * It bounds batches of grouped reports (see `ReportGroups`); a report without it is never grouped.
   */
  bytes?: number;
}

/** The batch id of a client's idempotency key (a hash: the key's text never reaches Redis keys). */
export function batchIdOf(idempotencyKey: string): string {
  return `k-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

/**
 * The report queue, with one interface for Redis (BullMQ) and the embedded in-process queue.
 * A batch is enqueued once and delivered to every handler that has report rules, each handler
 * from its own queue, so a failing or slow handler never delays the others.
 */
export interface ReportQueue {
  /** `redis` (durable) or `embedded` (held in memory). */
  readonly kind: 'redis' | 'embedded';
  /**
   * Keeps one batch for every handler in `handlers`. Resolves once it is kept (in Redis: durably
   * written); rejects with MIXER_ERR_QUEUE_UNAVAILABLE when it cannot be.
   */
  enqueue(bags: readonly BagValues[], handlers: readonly string[], opts?: EnqueueOptions): Promise<string>;
  /** Starts consuming (a worker); the set of handler queues follows the live config. */
  startWorkers(): void;
  /** True once the consumers `startWorkers` started are connected and taking work (readiness of `mixer worker`). */
  readonly consuming: boolean;
  depth(): Promise<QueueDepth>;
  /** A page of `handler`'s dead letters, newest first, without their bags (`cursor`: the last page's `next`). */
  deadLetterPage(handler: string, opts: { limit: number; cursor?: string }): Promise<DeadLetterPage>;
  deadLetter(handler: string, id: string): Promise<DeadLetter | undefined>;
  /** Puts dead letters of `handler` back in its queue (all, or those in `ids`); returns how many. */
  replay(handler: string, ids?: readonly string[]): Promise<number>;
  /** Dead letters per handler (for `mixer_dead_letters{handler}`). */
  deadLetterCounts(): Promise<Record<string, number>>;
  /** Stops taking work, waits for work in hand (embedded: drains what is queued), closes. Safe twice. */
  close(): Promise<void>;
}
