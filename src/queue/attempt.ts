import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { BagValues } from '../attributes/bag';
import type { Snapshot } from '../runtime/snapshot';
import type { ThrottledLog } from '../base/throttled-log';
import { deliver } from './deliver';
import type { DeadLetterStore } from './dead-letters';
import type { DeliveryOptions } from './report-queue';

/**
 * Where the queue reads the live config: the snapshot a delivery starts with, and word of the next
 * one (to follow the set of report handlers). The runtime's config store is one.
 */
export interface SnapshotSource {
  readonly current: Snapshot;
  /** Calls `listener` with every new snapshot; returns the unsubscribe function. */
  onChange(listener: (snapshot: Snapshot) => void): () => void;
}

/** What both queue implementations need to run one delivery attempt. */
export interface AttemptDeps {
  store: SnapshotSource;
  deadLetters: DeadLetterStore;
  delivery: DeliveryOptions;
  retries: Counter<'handler'>;
  log: ThrottledLog;
  logger: Logger;
}

/** Thrown to ask the queue to try the batch again later (after backoff). */
export class RetryLater extends Error {}

/**
 * One attempt to deliver a batch to a handler. Resolves when the batch is done with: delivered,
 * or dead-lettered (permanent error, or the last attempt failed). Throws {@link RetryLater} when
 * the queue should retry it after a backoff.
 */
export async function runAttempt(
  deps: AttemptDeps,
  handler: string,
  id: string,
  bags: readonly BagValues[],
  attempt: number,
): Promise<'delivered' | 'dead-lettered'> {
  const snapshot = deps.store.current;
  if (!snapshot.handlers.has(handler) && attempt < deps.delivery.attempts) {
    // The handler left the live config (perhaps a moment ago, with this batch in flight): the batch
    // waits, neither delivered nor dead-lettered. The queue removes it once the handler's grace
    // period is over (counted as handler_removed), or delivers it if the handler comes back.
    deps.log.warn(`gone:${handler}`, { handler, batch: id }, `handler ${handler} is not in the live config; its batch waits for the grace period`);
    throw new RetryLater(`handler ${handler} is not in the live config`);
  }
  const r = await deliver(snapshot, handler, bags, { jobId: id, attempt }, deps.delivery.timeoutMs);
  if (r.ok) return 'delivered';
  const last = r.permanent || attempt >= deps.delivery.attempts;
  if (!last) {
    deps.retries.labels(handler).inc();
    deps.log.warn(`retry:${handler}`, { handler, batch: id, attempt, err: r.error.message }, `handler ${handler} failed a batch; retrying with backoff`);
    throw new RetryLater(r.error.message);
  }
  await deps.deadLetters.add({ id, handler, bags, attempts: attempt, error: r.error.message, permanent: r.permanent, failedAt: new Date().toISOString() });
  deps.logger.warn(
    { handler, batch: id, attempts: attempt, permanent: r.permanent, err: r.error.message },
    `batch dead-lettered for handler ${handler}; replay with POST /v1/deadletters/${handler}/replay`,
  );
  return 'dead-lettered';
}
