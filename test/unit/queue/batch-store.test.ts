import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BagValues } from '../../../src/attributes/bag';
import { BatchStore } from '../../../src/queue/batch-store';
import { batchTtlMs, DEFAULT_DELIVERY, longestRetryScheduleMs } from '../../../src/queue/report-queue';
import { deleteKeys } from '../../support/redis-keys';
import { frontendToBackend } from '../../support/traffic';

/** Bags as the queue holds them (the traffic's values are all plain attribute values). */
const bagsOf = (n: number): BagValues[] => frontendToBackend(n).map((r) => r.bag as BagValues);

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL = batchTtlMs(DEFAULT_DELIVERY);

describe('queue/batch-store @redis', () => {
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS_URL);
  after(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('keeps a batch once, reads back exactly what was put, and deletes it', async () => {
    const bags = bagsOf(100);
    const store = new BatchStore(redis, prefix, TTL);
    await store.put('b1', bags);
    const stored = await redis.getBuffer(store.key('b1'));
    assert.ok(stored && stored.length < JSON.stringify(bags).length / 2, 'smaller than the JSON');
    assert.deepEqual(await new BatchStore(redis, prefix, TTL).get('b1'), bags, 'another process reads it back');
    await store.delete('b1');
    assert.equal(await redis.exists(store.key('b1')), 0);
  });

  it('gives every batch a TTL longer than the longest retry schedule', async () => {
    const store = new BatchStore(redis, prefix, TTL);
    await store.put('ttl', bagsOf(1));
    const ttl = await redis.pttl(store.key('ttl'));
    const longest = longestRetryScheduleMs(DEFAULT_DELIVERY);
    // 17 attempts × (30 s timeout + up to 45 s backoff): about 17.5 minutes, plus a day in the queue.
    assert.ok(longest > 15 * 60_000 && longest < 20 * 60_000, `longest retry schedule ${longest} ms`);
    assert.ok(ttl > longest + 23 * 3_600_000 && ttl <= TTL, `TTL ${ttl} ms`);
  });

  it('names a batch that is gone', async () => {
    const store = new BatchStore(redis, prefix, TTL);
    await assert.rejects(store.get('gone'), /batch gone is missing from Redis/);
  });

  it('reads a batch once for all the handlers that ask at about the same time', async () => {
    const store = new BatchStore(redis, prefix, TTL);
    await store.put('b2', bagsOf(2));
    const [a, b] = await Promise.all([store.get('b2'), store.get('b2')]);
    assert.equal(a, b, 'one decoded batch shared');
  });
});
