import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import type { BullmqQueue } from '../../../src/queue/bullmq-queue';
import { SHARD_RUN } from '../../../src/queue/bullmq-queue';
import { BatchStore } from '../../../src/queue/batch-store';
import { deleteKeys } from '../../support/redis-keys';
import { sinkQueue } from '../../support/sink-queue';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('queue/bullmq-queue: batches spread over shards @redis', () => {
  const prefix = `test:shards:${process.pid}:${Date.now()}:`;
  let queue: BullmqQueue | undefined;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });

  before(() => redis.connect());
  after(async () => {
    await queue?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('puts unkeyed batches on one shard in runs, each shard getting an even share; a keyed batch always on the same shard', async () => {
    queue = await sinkQueue(REDIS_URL, prefix, { shards: 3 });
    // No workers: every queued batch's bags stay stored under its shard's prefix, in order.
    const stores = queue.bullPrefixes.map((p) => new BatchStore(redis, `${p}:`, 1));
    const shardOf = async (id: string): Promise<number> => {
      const found: number[] = [];
      for (const [i, store] of stores.entries()) if ((await redis.exists(store.key(id))) === 1) found.push(i);
      assert.equal(found.length, 1, `batch ${id} is stored on exactly one shard (found on ${JSON.stringify(found)})`);
      return found[0];
    };
    const order: number[] = [];
    for (let i = 0; i < SHARD_RUN * 6; i++) order.push(await shardOf(await queue.enqueue([{ 'request.id': `r${i}` }], ['h'])));
    const runs = Array.from({ length: 6 }, (_, r) => order.slice(r * SHARD_RUN, (r + 1) * SHARD_RUN));
    for (const run of runs) assert.equal(new Set(run).size, 1, `a run of ${SHARD_RUN} batches stays on one shard: ${JSON.stringify(order)}`);
    assert.deepEqual(
      [0, 1, 2].map((s) => order.filter((x) => x === s).length),
      [2 * SHARD_RUN, 2 * SHARD_RUN, 2 * SHARD_RUN],
      'every shard gets an even share',
    );
    assert.notEqual(runs[0][0], runs[1][0], 'the next run goes to another shard');
    const keyed = new Set<number>();
    for (let i = 0; i < 3; i++) keyed.add(await shardOf(await queue.enqueue([{ 'request.id': 'k' }], ['h'], { idempotencyKey: 'same-key' })));
    assert.equal(keyed.size, 1, 'every send of a keyed batch goes to the same shard');
  });
});
