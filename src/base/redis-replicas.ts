/**
 * Durability of writes across a failover. Redis replicates asynchronously: a primary may
 * acknowledge a write and die before any replica has it, and the replica promoted in its place
 * then lacks it. Code whose acknowledgement promises more (a report answered 202, a job marked
 * done after its counts were written on another shard) calls {@link ReplicaWaiter.settle} with a
 * key it wrote: when the primary holding that key has replicas connected, `WAIT` holds the caller
 * until they have every write sent before it on that connection (at most `timeoutMs`).
 *
 * It waits only for the replicas actually connected (read from `INFO replication` every second),
 * so a promoted primary with no replica yet keeps accepting. A write acknowledged by fewer replicas
 * than the most this process has seen connected to one primary is "unreplicated": reported through
 * `onUnreplicated` (Mixer counts it in `mixer_redis_unreplicated_writes_total`). With a single server
 * and no replicas, nothing is waited for and nothing is counted.
 */
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { isCluster } from './redis-connect';
import type { RedisConnection } from './redis-connect';

export interface ReplicaWaiterOptions {
  /** Longest a WAIT may hold a caller, ms (default 500). */
  timeoutMs?: number;
  /** How often the connected replicas are read, ms (default 1000). */
  refreshMs?: number;
  /** Told of each write acknowledged by fewer replicas than expected. */
  onUnreplicated?: (expected: number, acked: number) => void;
}

/** Connected replicas in an `INFO replication` answer (those whose state is online). */
export function onlineReplicas(info: string): number {
  let n = 0;
  for (const line of info.split('\n')) if (/^slave\d+:.*state=online/.test(line)) n++;
  return n;
}

function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

export class ReplicaWaiter {
  private readonly timeoutMs: number;
  private readonly replicas = new Map<string, number>();
  /** Most replicas seen connected to one primary: what a healthy deployment has. */
  private expected = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  /** Per primary: the WAIT out now, and the one queued behind it (shared by everyone who asked meanwhile). */
  private readonly waits = new WeakMap<Redis, { inflight?: Promise<number>; next?: Promise<number> }>();

  constructor(
    private readonly conn: RedisConnection,
    private readonly opts: ReplicaWaiterOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 500;
    this.timer = setInterval(() => void this.refresh(), opts.refreshMs ?? 1000);
    this.timer.unref();
    void this.refresh();
  }

  /** Re-reads the replicas connected to each primary (errors leave the last reading); joins a reading in progress. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const primaries: Redis[] = isCluster(this.conn) ? this.conn.nodes('master') : [this.conn];
    await Promise.all(
      primaries.map(async (node) => {
        try {
          const n = onlineReplicas(await node.info('replication'));
          this.replicas.set(isCluster(this.conn) ? nodeKey(node) : '', n);
          if (n > this.expected) this.expected = n;
        } catch {
          /* unreachable now: keep the last reading */
        }
      }),
    );
  }

  /** The primary that holds `key` and its connected replicas as last read (undefined replicas: not read yet). */
  private primaryOf(key: string): { node: Redis; replicas: number | undefined } | undefined {
    if (!isCluster(this.conn)) return { node: this.conn, replicas: this.replicas.get('') };
    const owner = this.conn.slots[calculateSlot(key)]?.[0];
    if (!owner) return undefined;
    const node = this.conn.nodes('master').find((n) => nodeKey(n) === owner);
    return node ? { node, replicas: this.replicas.get(owner) } : undefined;
  }

  /**
   * Waits until the writes sent so far to the primaries holding `keys` reach their connected
   * replicas (one WAIT per primary; nothing to wait for when it has none). Never throws for a slow or
   * missing replica: that is counted as unreplicated; it throws only when a primary cannot be asked.
   */
  async settle(...keys: string[]): Promise<void> {
    const primaries = new Map<Redis, number>();
    let found = keys.map((key) => this.primaryOf(key));
    // A primary not read yet (just started, or new after a failover): read before deciding.
    if (found.some((p) => p?.replicas === undefined)) {
      await this.refresh();
      found = keys.map((key) => this.primaryOf(key));
    }
    for (const p of found) if (p) primaries.set(p.node, p.replicas ?? 0);
    if (primaries.size === 0 && keys.length > 0) primaries.set(undefined as unknown as Redis, 0);
    await Promise.all(
      [...primaries].map(async ([node, want]) => {
        const acked = node && want > 0 ? await this.waitOn(node, want) : 0;
        if (acked < this.expected) this.opts.onUnreplicated?.(this.expected, acked);
      }),
    );
  }

  /**
   * One WAIT at a time per primary (a WAIT holds its connection, and every command behind it):
   * callers that come while one is out share the next, sent when it returns, which covers every
   * write they sent before asking. Many settles, at most two WAITs.
   */
  private waitOn(node: Redis, want: number): Promise<number> {
    let w = this.waits.get(node);
    if (!w) this.waits.set(node, (w = {}));
    const state = w;
    const start = (): Promise<number> => {
      const p: Promise<number> = node
        .call('WAIT', String(want), String(this.timeoutMs))
        .then(Number)
        .finally(() => {
          if (state.inflight === p) state.inflight = undefined;
        });
      state.inflight = p;
      return p;
    };
    if (!state.inflight) return start();
    state.next ??= state.inflight
      .catch(() => 0)
      .then(() => {
        state.next = undefined;
        return start();
      });
    return state.next;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
