import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { LocalGenerations, RedisGenerations } from '../../../src/runtime/generations';
import type { ConfigVersion } from '../../../src/runtime/generations';
import { deleteKeys } from '../../support/redis-keys';
import { TestRedis } from '../../support/redis-server';
import { waitFor } from '../../support/wait';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

describe('runtime/generations', () => {
  it('a process alone: a new content is a new generation, a reload of the same content keeps it', async () => {
    const g = new LocalGenerations();
    const v1 = await g.assign('a', undefined);
    assert.deepEqual(v1, { generation: 1, epoch: g.epoch });
    assert.deepEqual(await g.assign('a', v1), v1);
    const v2 = await g.assign('b', v1);
    assert.equal(v2.generation, 2);
    assert.equal((await g.assign('a', v2)).generation, 3, 'back to earlier content is still newer');
    assert.notEqual(new LocalGenerations().epoch, g.epoch, 'two processes never share an epoch');
  });

  describe('replicas on one Redis @redis', () => {
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    const conns: Redis[] = [];
    const replica = (): RedisGenerations => {
      const c = new Redis(REDIS_URL);
      conns.push(c);
      return new RedisGenerations(c, prefix, logger);
    };
    after(async () => {
      await deleteKeys(conns[0], prefix);
      for (const c of conns) c.disconnect();
    });

    it('agree on the number of each content, and each one only counts up', async () => {
      const [a, b, c] = [replica(), replica(), replica()];
      const a1 = await a.assign('d0', undefined);
      const b1 = await b.assign('d0', undefined);
      assert.deepEqual(b1, a1);
      const a2 = await a.assign('d1', a1);
      const b2 = await b.assign('d1', b1);
      assert.deepEqual(b2, a2);
      assert.ok(a2.generation > a1.generation);
      // Reverted to d0: newer than d1 for both, and the same on both.
      const a3 = await a.assign('d0', a2);
      const b3 = await b.assign('d0', b2);
      assert.deepEqual(b3, a3);
      assert.ok(a3.generation > a2.generation);
      // A replica starting now joins at the number the others serve.
      assert.deepEqual(await c.assign('d0', undefined), a3);
      assert.deepEqual(await a.assign('d0', a3), a3, 'a reload of unchanged content keeps the version');
    });
  });

  describe('Redis away @redis', () => {
    const server = new TestRedis();
    let conn: Redis;
    before(async () => {
      await server.start();
      conn = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
      conn.on('error', () => undefined);
    });
    after(async () => {
      conn.disconnect();
      await server.stop();
      await server.cleanup();
    });

    it('numbers on its own in an epoch of its own, then asks to be renumbered and rejoins the shared number', async () => {
      const otherConn = new Redis(server.url);
      otherConn.on('error', () => undefined);
      const other = new RedisGenerations(otherConn, '', logger);
      const g = new RedisGenerations(conn, '', logger, 300);
      let resyncs = 0;
      g.onResync(() => resyncs++);
      const shared = await g.assign('d0', undefined);
      await server.stop();
      const alone: ConfigVersion = await g.assign('d1', shared);
      assert.notEqual(alone.epoch, shared.epoch, 'its own numbering never passes for the shared one');
      await server.start();
      await waitFor('the resync request', () => resyncs > 0, 10_000, 50);
      const sharedD1 = await other.assign('d1', shared);
      assert.deepEqual(await g.assign('d1', alone), sharedD1, 'back on the number the other replica serves');
      otherConn.disconnect();
    });
  });
});
