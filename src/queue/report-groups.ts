import type { BagValues } from '../attributes/bag';

/** Reports waiting to be queued as one batch, and their callers. */
interface Group {
  readonly handlers: readonly string[];
  readonly signature: string;
  readonly bags: BagValues[];
  readonly callers: Array<{ resolve: (id: string) => void; reject: (err: unknown) => void }>;
}

/**
 * Group commit for report batches. At most `maxInFlight` batches are being queued at a time; the
 * reports that arrive meanwhile wait, and go together as one batch (same handlers, at most `maxBags`
 * bags) as soon as one of those is done. Each caller is answered when the batch holding its bags is
 * queued (or could not be: then every caller in it gets the error). With no batch in flight a report
 * goes at once, alone: grouping only happens under load, and costs a report no more than the wait it
 * would have had anyway behind the writes in flight on the same connection.
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
    private readonly maxInFlight: number,
    private readonly maxBags: number,
    /** Told, for every batch sent, how many reports it holds. */
    private readonly onBatch?: (reports: number) => void,
  ) {}

  /** Queues `bags` for `handlers`, alone or with other reports; resolves with the id of the batch that holds them. */
  add(bags: readonly BagValues[], handlers: readonly string[]): Promise<string> {
    if (this.inFlight < this.maxInFlight && this.waiting.length === 0) {
      this.onBatch?.(1);
      return this.run(bags, handlers);
    }
    const signature = handlers.join('\n');
    let group = this.waiting.find((g) => g.signature === signature && g.bags.length + bags.length <= this.maxBags);
    if (!group) {
      group = { handlers, signature, bags: [], callers: [] };
      this.waiting.push(group);
    }
    for (const bag of bags) group.bags.push(bag);
    const g = group;
    return new Promise((resolve, reject) => g.callers.push({ resolve, reject }));
  }

  /** Resolves once no batch is in flight and no report waits (at once when so): for a shutdown that drains. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  private run(bags: readonly BagValues[], handlers: readonly string[]): Promise<string> {
    this.inFlight++;
    return this.send(bags, handlers).finally(() => {
      this.inFlight--;
      this.startWaiting();
    });
  }

  private startWaiting(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const g = this.waiting.shift()!;
      this.onBatch?.(g.callers.length);
      this.run(g.bags, g.handlers).then(
        (id) => {
          for (const c of g.callers) c.resolve(id);
        },
        (err: unknown) => {
          for (const c of g.callers) c.reject(err);
        },
      );
    }
    if (this.inFlight === 0 && this.waiting.length === 0 && this.idlers.length > 0) {
      const idlers = this.idlers;
      this.idlers = [];
      for (const resolve of idlers) resolve();
    }
  }
}
