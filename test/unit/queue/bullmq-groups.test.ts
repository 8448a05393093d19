import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import type { BullmqQueue } from '../../../src/queue/bullmq-queue';
import { BatchStore } from '../../../src/queue/batch-store';
import { batchIdOf } from '../../../src/queue/report-queue';
import { deleteKeys } from '../../support/redis-keys';
import { sinkQueue } from '../../support/sink-queue';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('queue/bullmq-queue: reports sent together are queued as one batch @redis', () => {
  const prefix = `test:groups:${process.pid}:${Date.now()}:`;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  let queue: BullmqQueue | undefined;
  const perBatch: number[] = [];

  before(async () => {
    await redis.connect();
    queue = await sinkQueue(REDIS_URL, prefix, { onBatch: (n) => perBatch.push(n) });
  });
  after(async () => {
    await queue?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('concurrent unkeyed reports share batches: every bag is stored once, in the batch whose id its caller got', async () => {
    perBatch.length = 0;
    const reports = Array.from({ length: 20 }, (_, r) => [0, 1, 2].map((b) => ({ 'request.id': `r${r}-b${b}` })));
    const ids = await Promise.all(reports.map((bags) => queue!.enqueue(bags, ['h'], { bytes: 300 })));
    const distinct = [...new Set(ids)];
    assert.ok(distinct.length < reports.length, `20 reports sent at once went as ${distinct.length} batches`);
    assert.equal(perBatch.length, distinct.length, 'one observation per batch');
    assert.equal(
      perBatch.reduce((a, b) => a + b, 0),
      reports.length,
      'the observations count every report',
    );
    // No workers: each batch's bags stay stored, as the batch was queued.
    const stored = new BatchStore(redis, `${queue!.bullPrefixes[0]}:`, 1);
    const seen = new Map<string, string>();
    for (const id of distinct) for (const bag of await stored.get(id)) seen.set(String(bag['request.id']), id);
    assert.equal(seen.size, reports.length * 3, 'every bag is stored, once');
    reports.forEach((bags, r) => {
      for (const bag of bags) assert.equal(seen.get(String(bag['request.id'])), ids[r], `${String(bag['request.id'])} is in its caller's batch`);
    });
  });

  it('keyed reports, and reports of unknown size, are never grouped: each is its own batch', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const ids = await Promise.all(keys.map((k, i) => queue!.enqueue([{ 'request.id': `k${i}` }], ['h'], { idempotencyKey: k, bytes: 100 })));
    assert.deepEqual(ids, keys.map(batchIdOf), 'each keyed report has the batch id of its key');
    const unsized = await Promise.all(Array.from({ length: 8 }, (_, i) => queue!.enqueue([{ 'request.id': `u${i}` }], ['h'])));
    assert.equal(new Set(unsized).size, 8, 'reports of unknown size go one per batch');
  });
});
