import type { RedisConnection } from '../base/redis-connect';
import { Packr } from 'msgpackr';
import type { BagValues } from '../attributes/bag';

/** Parsed batches kept for the other handlers of the same batch (bounded; oldest dropped first). */
const RECENT_BATCHES = 32;

/**
 * Encoding of a stored batch: MessagePack with records (each distinct set of attribute names written
 * once per message, so the batch is self-contained). Bags of one mesh repeat the same names; this is
 * a third of the JSON's size and several times quicker to read back.
 */
const codec = new Packr({ useRecords: true });

/** The bags of a batch are no longer in Redis (expired, or deleted once every handler was done). */
export class BatchMissingError extends Error {
  constructor(readonly batch: string) {
    super(`batch ${batch} is missing from Redis`);
    this.name = 'BatchMissingError';
  }
}

/**
 * Where the bags of queued report batches live in Redis: once per batch, under `<prefix>batch:<id>`,
 * whatever number of handlers take them, until the batch is done with, and at most `ttlMs` (longer
 * than the longest retry schedule: see `batchTtlMs`), so a batch whose flow is lost cannot stay forever. The handlers of one batch
 * usually run in one process at about the same time, so the last few batches read are kept: one
 * read and one decode per batch instead of one per handler.
 */
export class BatchStore {
  private readonly recent = new Map<string, Promise<BagValues[]>>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    /** Lifetime of a stored batch, ms. */
    readonly ttlMs: number,
  ) {}

  key(id: string): string {
    return `${this.prefix}batch:${id}`;
  }

  async put(id: string, bags: readonly BagValues[]): Promise<void> {
    await this.redis.set(this.key(id), codec.pack(bags), 'PX', this.ttlMs);
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  /** The bags of batch `id`; rejects naming the batch when it is gone from Redis. */
  get(id: string): Promise<BagValues[]> {
    const key = this.key(id);
    let pending = this.recent.get(key);
    if (!pending) {
      pending = this.redis.getBuffer(key).then((raw) => {
        if (raw === null) throw new BatchMissingError(id);
        return codec.unpack(raw) as BagValues[];
      });
      this.recent.set(key, pending);
      if (this.recent.size > RECENT_BATCHES) this.recent.delete(this.recent.keys().next().value!);
      pending.catch(() => this.recent.delete(key));
    }
    return pending;
  }
}
