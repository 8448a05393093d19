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
}

export const DEFAULT_DELIVERY: DeliveryOptions = { attempts: 12, backoffMs: 500, maxBackoffMs: 30_000, timeoutMs: 30_000, concurrency: 4 };

/** Exponential backoff with jitter: attempt 1 waits ~backoffMs, then doubling, capped. */
export function backoffDelay(attemptsMade: number, opts: Pick<DeliveryOptions, 'backoffMs' | 'maxBackoffMs'>): number {
  const base = Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base * (0.5 + Math.random()));
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
  enqueue(bags: readonly BagValues[], handlers: readonly string[]): Promise<string>;
  /** Starts consuming (a worker); the set of handler queues follows the live config. */
  startWorkers(): void;
  depth(): Promise<QueueDepth>;
  deadLetters(handler: string, limit?: number): Promise<DeadLetter[]>;
  deadLetter(handler: string, id: string): Promise<DeadLetter | undefined>;
  /** Puts dead letters of `handler` back in its queue (all, or those in `ids`); returns how many. */
  replay(handler: string, ids?: readonly string[]): Promise<number>;
  /** Dead letters per handler (for `mixer_dead_letters{handler}`). */
  deadLetterCounts(): Promise<Record<string, number>>;
  /** Stops taking work, waits for work in hand (embedded: drains what is queued), closes. Safe twice. */
  close(): Promise<void>;
}
