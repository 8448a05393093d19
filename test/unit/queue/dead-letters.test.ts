import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryDeadLetters } from '../../../src/queue/dead-letters';
import type { DeadLetterDropReason, DeadLetterLimits, DeadLetterStore } from '../../../src/queue/dead-letters';
import { RedisDeadLetters } from '../../../src/queue/redis-dead-letters';
import type { DeadLetter } from '../../../src/queue/report-queue';
import { deleteKeys } from '../../support/redis-keys';
import { waitFor } from '../../support/wait';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const H = 'default/zipkin';

/** Dead letter `i` of handler H, failed at `at` (default now + i s), with `n` bags of `pad` bytes each. */
function letter(i: number, n = 1, pad = 10, at?: number): DeadLetter {
  const bags = Array.from({ length: n }, (_, j) => ({ 'request.path': `/${i}/${j}/${'x'.repeat(pad)}` }));
  return {
    id: `b-${String(i).padStart(3, '0')}`,
    handler: H,
    bags,
    attempts: 3,
    error: 'sink said 400',
    permanent: true,
    failedAt: new Date(at ?? Date.now() + i * 1000).toISOString(),
  };
}

type Make = (limits: DeadLetterLimits, onDrop: (h: string, r: DeadLetterDropReason, n: number) => void) => DeadLetterStore;

for (const kind of ['memory', 'redis'] as const) {
  describe(`queue/dead-letters (${kind})${kind === 'redis' ? ' @redis' : ''}`, () => {
    const prefix = `mixer-test:dlq:${randomBytes(4).toString('hex')}:`;
    let redis: Redis | undefined;
    const drops: Record<string, number> = {};
    const make = (limits: Partial<DeadLetterLimits> = {}): DeadLetterStore => {
      const l = { maxCount: 1000, maxBytes: 1 << 30, ttlMs: 3_600_000, ...limits };
      const onDrop = (_h: string, r: DeadLetterDropReason, n: number): void => void (drops[r] = (drops[r] ?? 0) + n);
      const m: Make = kind === 'memory' ? (li, d) => new MemoryDeadLetters(li, d) : (li, d) => new RedisDeadLetters(redis!, prefix, li, d);
      return m(l, onDrop);
    };
    before(() => {
      if (kind === 'redis') redis = new Redis(REDIS_URL);
    });
    beforeEach(async () => {
      for (const k of Object.keys(drops)) delete drops[k];
      if (redis) await deleteKeys(redis, prefix);
    });
    after(async () => {
      if (redis) {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      }
    });

    it('keeps at most maxCount per handler, dropping the oldest, and counts them', async () => {
      const store = make({ maxCount: 5 });
      for (let i = 0; i < 12; i++) await store.add(letter(i));
      const page = await store.page(H, 100);
      assert.equal(page.count, 5);
      assert.deepEqual(
        page.items.map((s) => s.id),
        ['b-011', 'b-010', 'b-009', 'b-008', 'b-007'],
      );
      assert.equal(drops.count, 7);
      assert.deepEqual(await store.counts(), { [H]: 5 });
      assert.equal(await store.get(H, 'b-000'), undefined);
    });

    it('keeps at most maxBytes per handler, and refuses a letter bigger than the cap on its own', async () => {
      const one = JSON.stringify(letter(0, 10, 1000)).length;
      const store = make({ maxBytes: one * 3 + 100 });
      for (let i = 0; i < 10; i++) await store.add(letter(i, 10, 1000));
      const page = await store.page(H, 100);
      assert.equal(page.count, 3);
      assert.ok(page.items.reduce((n, s) => n + s.bytes, 0) <= one * 3 + 100);
      assert.equal(drops.bytes, 7);
      await store.add(letter(50, 100, 1000));
      assert.equal((await store.page(H, 100)).count, 3, 'the big one is not kept, nothing else is dropped for it');
      assert.equal(drops.bytes, 8);
    });

    it('lists a page at a time, newest first, with the bag count and size but not the bags', async () => {
      const store = make();
      for (let i = 0; i < 25; i++) await store.add(letter(i, 3));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.page(H, 10, cursor);
        assert.equal(page.count, 25);
        for (const s of page.items) {
          assert.equal(s.bags, 3);
          assert.ok(s.bytes > 100);
          assert.equal('bags' in s && Array.isArray(s.bags), false);
        }
        seen.push(...page.items.map((s) => s.id));
        cursor = page.next;
        pages++;
      } while (cursor !== undefined);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        Array.from({ length: 25 }, (_, i) => `b-${String(24 - i).padStart(3, '0')}`),
      );
      // A cursor whose letter was replayed in the meantime still continues after it.
      const first = await store.page(H, 5);
      await store.remove(H, first.items[4].id);
      assert.deepEqual(
        (await store.page(H, 2, first.next)).items.map((s) => s.id),
        ['b-019', 'b-018'],
      );
      if (redis) {
        // Listing reads only the summaries: a letter whose stored body is unreadable still lists.
        await redis.hset(`${prefix}dlq:${H}`, 'b-010', '{not json');
        assert.equal((await store.page(H, 100)).items.length, 24);
      }
    });

    it('drops letters past their TTL, and counts them', async () => {
      const store = make({ ttlMs: 1000 });
      await store.add(letter(0, 1, 10, Date.now() - 5000));
      await store.add(letter(100, 1, 10, Date.now() - 100_000));
      assert.equal((await store.page(H, 10)).count, 0, 'an expired letter is not listed');
      await store.add(letter(1, 1, 10, Date.now() - 700));
      assert.equal(drops.expired, 2);
      await waitFor('the last letter to expire', async () => (await store.counts())[H] === 0, 5000, 50);
      if (redis) {
        const ttl = await redis.pttl(`${prefix}dlq:${H}`);
        // -2: already expired; else a TTL no longer than the letters'.
        assert.ok(ttl === -2 || (ttl > 0 && ttl <= 1000), `the handler's keys expire too (${ttl} ms)`);
      }
    });
  });
}
