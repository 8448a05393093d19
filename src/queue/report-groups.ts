import type { BagValues } from '../attributes/bag';
import { MixerError } from '../base/errors';

/** A report waiting in a group, and how to answer its caller. */
interface Waiter {
  readonly bags: readonly BagValues[];
  readonly bytes: number;
  readonly resolve: (id: string) => void;
  readonly reject: (err: unknown) => void;
  timer?: NodeJS.Timeout;
}

/** Reports waiting to be queued as one batch. */
interface Group {
  readonly handlers: readonly string[];
  readonly waiters: Waiter[];
  /** Bags and bytes of the waiters, summed. */
  bags: number;
  bytes: number;
}

/** Whether two handler lists are the same (reports of one config snapshot share the very array). */
function sameHandlers(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((h, i) => h === b[i]));
}

/** Bounds of {@link ReportGroups}. */
export interface ReportGroupLimits {
  /** Batches being queued at once; reports that come meanwhile wait. */
  maxInFlight: number;
  /** Most bags in a group (a larger report still goes, alone). */
  maxBags: number;
  /** Most bytes (of the reports as received) in a group (a larger report still goes, alone). */
  maxBytes: number;
  /** Longest a report waits in a group before its caller is answered MIXER_ERR_QUEUE_UNAVAILABLE, not queued, ms. */
  maxWaitMs: number;
}

/**
 * Group commit for report batches. At most `maxInFlight` batches are being queued at a time; the
 * reports that arrive meanwhile wait, and go together as one batch (same handlers, at most `maxBags`
 * bags and `maxBytes` bytes) as soon as one of those is done. A report of unknown size is not
 * grouped: it goes at once, as if nothing were in flight. Each caller is answered when the batch holding its bags is
 * queued (or could not be: then every caller in it gets the error). With no batch in flight a report
 * goes at once, alone: grouping only happens under load, and costs a report no more than the wait it
 * would have had anyway behind the writes in flight on the same connection. A report that has waited
 * `maxWaitMs` without being sent (Redis stalls: every batch takes its whole timeout) leaves its group
 * and its caller is answered MIXER_ERR_QUEUE_UNAVAILABLE: not queued, so safe to send again.
 *
 * What it saves is the fixed cost of a batch, paid once per group instead of once per report: the
 * stored bags and the flow (one job per handler), the jobs' moves through their queues, the adapters'
 * scripts (which aggregate per batch) and the wait for replicas.
 */
export class ReportGroups {
  private inFlight = 0;
  private readonly waiting: Group[] = [];
  private idlers: Array<() => void> = [];

  constructor(
    /** Queues one batch (an async function: it reports every failure by rejecting). */
    private readonly send: (bags: readonly BagValues[], handlers: readonly string[]) => Promise<string>,
    private readonly limits: ReportGroupLimits,
    /** Told, for every batch sent, how many reports it holds. */
    private readonly onBatch?: (reports: number) => void,
  ) {}

  /**
   * Queues `bags` (a report of `bytes` bytes as received, or of unknown size) for `handlers`, alone or
   * with other reports; resolves with the id of the batch that holds them.
   */
  add(bags: readonly BagValues[], handlers: readonly string[], bytes?: number): Promise<string> {
    if (bytes === undefined || (this.inFlight < this.limits.maxInFlight && this.waiting.length === 0)) {
      this.onBatch?.(1);
      return this.run(bags, handlers);
    }
    const fits = (g: Group): boolean =>
      sameHandlers(g.handlers, handlers) && g.bags + bags.length <= this.limits.maxBags && g.bytes + bytes <= this.limits.maxBytes;
    let group = this.waiting.find(fits);
    if (!group) {
      group = { handlers, waiters: [], bags: 0, bytes: 0 };
      this.waiting.push(group);
    }
    const g = group;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { bags, bytes, resolve, reject };
      waiter.timer = setTimeout(() => this.giveUp(g, waiter), this.limits.maxWaitMs);
      g.waiters.push(waiter);
      g.bags += bags.length;
      g.bytes += bytes;
    });
  }

  /** Resolves once no batch is in flight and no report waits (at once when so): for a shutdown that drains. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  private giveUp(group: Group, waiter: Waiter): void {
    const g = this.waiting.indexOf(group);
    const i = group.waiters.indexOf(waiter);
    if (g < 0 || i < 0) return; // already sent: its answer comes from the batch
    group.waiters.splice(i, 1);
    group.bags -= waiter.bags.length;
    group.bytes -= waiter.bytes;
    if (group.waiters.length === 0) this.waiting.splice(g, 1);
    waiter.reject(
      new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', `the report waited ${this.limits.maxWaitMs} ms behind batches Redis was slow to take; not queued`, {
        retryable: true,
      }),
    );
    this.notifyIdle();
  }

  private run(bags: readonly BagValues[], handlers: readonly string[]): Promise<string> {
    this.inFlight++;
    return this.send(bags, handlers).finally(() => {
      this.inFlight--;
      this.startWaiting();
    });
  }

  private startWaiting(): void {
    while (this.inFlight < this.limits.maxInFlight && this.waiting.length > 0) {
      const g = this.waiting.shift()!;
      const bags: BagValues[] = [];
      for (const w of g.waiters) {
        clearTimeout(w.timer);
        for (const bag of w.bags) bags.push(bag);
      }
      this.onBatch?.(g.waiters.length);
      this.run(bags, g.handlers).then(
        (id) => {
          for (const w of g.waiters) w.resolve(id);
        },
        (err: unknown) => {
          for (const w of g.waiters) w.reject(err);
        },
      );
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.inFlight === 0 && this.waiting.length === 0 && this.idlers.length > 0) {
      const idlers = this.idlers;
      this.idlers = [];
      for (const resolve of idlers) resolve();
    }
  }
}
