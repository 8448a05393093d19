import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { graphAdapter } from '../../../../adapters/graph';
import type { RedisConnection } from '../../../../src/base/redis-connect';
import { isPermanent } from '../../../../src/sdk/adapter';
import { runAdapterConformance } from '../../../../src/sdk/conformance';
import {
  BACKEND_V1,
  BACKEND_V2,
  Clock,
  deleteKeys,
  edge,
  edgeOf,
  FRONTEND,
  graphJson,
  graphShardBases,
  Harness,
  REDIS_URL,
  T0,
  testPrefix,
  times,
} from './fixtures';
import { forEachRedisMode } from '../../../support/redis-topology';

const FRONTEND_ID = 'app:shop/frontend/v1';

forEachRedisMode((mode) => {
  describe('graph adapter: Redis state @redis', () => {
    const prefix = testPrefix('redis');
    let redis: RedisConnection;
    const clients: Redis[] = [];
    const harness = new Harness(prefix, () => redis);
    before(() => {
      redis = mode.connect();
    });
    afterEach(async () => {
      await harness.cleanup();
      for (const c of clients.splice(0)) c.disconnect();
      await mode.deleteKeys(prefix);
    });
    after(async () => {
      await mode.deleteKeys(prefix);
    });

    /** Another connection, as another replica has (closed with the mode). */
    function client(): RedisConnection {
      return mode.connect();
    }

    it('two handlers with their own connections (two replicas) build one graph', async () => {
      const clock = new Clock();
      const a = harness.handler(clock, {}, client()).handler;
      const b = harness.handler(clock, {}, client()).handler;
      await a.report(times(2, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 10 })), { jobId: 'from-a', attempt: 1 });
      await b.report(times(3, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 1000, responseCode: 500 })), { jobId: 'from-b', attempt: 1 });
      await b.report(times(3, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 1000, responseCode: 500 })), { jobId: 'from-a', attempt: 2 });
      for (const h of [a, b]) {
        const e = edgeOf(await graphJson(h), FRONTEND_ID, 'app:shop/backend/v1');
        assert.ok(e);
        assert.equal(e.requests, 5, 'a job applied by one replica is not applied again by the other');
        assert.equal(e.errors, 3);
        assert.equal(e.p50, 1000);
        assert.equal(e.p99, 1000);
      }
    });

    it("stores one job as its id in the shard's jobs set plus bucket hashes under the prefix, each with a TTL", async () => {
      const clock = new Clock(Date.now());
      const { handler } = harness.handler(clock);
      await handler.report([edge(FRONTEND, BACKEND_V1, 'backend'), edge(FRONTEND, BACKEND_V2, 'backend')], { jobId: 'layout', attempt: 1 });
      const keys = (await mode.keys(`${prefix}*`)).sort();
      assert.equal(keys.length, 5, keys.join(', '));
      const fine = keys.find((k) => k.includes(':b:10s:') && !k.endsWith(':bytes'));
      const coarse = keys.find((k) => k.includes(':b:1m:') && !k.endsWith(':bytes'));
      assert.ok(
        keys.every((k) => k.includes('{graph:')),
        'every key carries a shard tag',
      );
      for (const bucket of [fine, coarse]) {
        const bytes = Number(await redis.get(`${bucket}:bytes`));
        assert.ok(bytes > 200 && bytes < 2000, `${bucket}:bytes = ${bytes}`);
        assert.equal(Math.abs((await redis.pttl(`${bucket}:bytes`)) - (await redis.pttl(bucket!))) < 1000, true, 'the byte count expires with its bucket');
      }
      const marker = keys.find((k) => k.endsWith(':jobs'));
      assert.ok(fine && coarse && marker, keys.join(', '));
      assert.equal(await redis.hlen(fine), 2, 'one field per edge');
      const fineTtl = await redis.pttl(fine);
      const coarseTtl = await redis.pttl(coarse);
      const markerTtl = await redis.pttl(marker);
      assert.ok(fineTtl > 300_000 && fineTtl <= 330_000, `10 s bucket TTL ${fineTtl}`);
      assert.ok(coarseTtl > 3_600_000 && coarseTtl <= 3_780_000, `1 min bucket TTL ${coarseTtl}`);
      assert.ok(markerTtl > 7_200_000 && markerTtl <= 14_400_000, `jobs set TTL ${markerTtl} (twice the 2 h an id is kept)`);
      assert.ok(Math.abs(Number(await redis.zscore(marker, 'layout')) - Date.now()) < 60_000, 'the job id is recorded with when it was applied');
    });

    it('a failed apply counts nothing, and the retry of the same job counts once', async () => {
      const clock = new Clock();
      const { handler, env } = harness.handler(clock);
      const bases = graphShardBases(env.env.keyPrefix);
      // A key of the wrong type where a bucket hash belongs fails the script. Redis does not undo a
      // failed script's writes, so the script must fail before its first write (the job's claim included).
      const bad = bases.map((base) => `${base}b:10s:${Math.floor(T0 / 10_000)}`);
      for (const k of bad) await redis.set(k, 'not a hash');
      const job = times(4, edge(FRONTEND, BACKEND_V1, 'backend'));
      await assert.rejects(Promise.resolve(handler.report(job, { jobId: 'retry-me', attempt: 1 })), (err: unknown) => !isPermanent(err));
      for (const base of bases) {
        assert.equal(await redis.zscore(`${base}jobs`, 'retry-me'), null, 'no claim: the job was not applied');
        assert.equal((await mode.keys(`${base}b:1m:*`)).length, 0, 'no bucket written');
      }
      // One DEL per key: the shards' keys are on different slots (a cluster refuses a multi-key DEL).
      for (const k of bad) await redis.del(k);
      await handler.report(job, { jobId: 'retry-me', attempt: 2 });
      await handler.report(job, { jobId: 'retry-me', attempt: 3 });
      assert.equal(edgeOf(await graphJson(handler, { window: '1m' }), FRONTEND_ID, 'app:shop/backend/v1')?.requests, 4);
    });

    it('a Redis that is down fails the report with a retryable error', async () => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      await new Promise<void>((r) => server.close(() => r()));
      const dead = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      dead.on('error', () => undefined);
      clients.push(dead);
      const { handler } = harness.handler(new Clock(), {}, dead);
      await assert.rejects(
        Promise.resolve(handler.report([edge(FRONTEND, BACKEND_V1, 'backend')], { jobId: 'down', attempt: 1 })),
        (err: unknown) => !isPermanent(err),
      );
      await assert.rejects(Promise.resolve(handler.routes['/v1/graph']({})));
    });
  });
});

describe('graph adapter with Redis @redis', () => {
  const prefix = testPrefix('conformance');
  let redis: Redis;
  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });
  runAdapterConformance(graphAdapter, {
    validParams: {},
    envOptions: () => ({ redis, keyPrefix: prefix }),
    badReport: { instances: [edge(FRONTEND, BACKEND_V1, 'backend', { mtls: 'maybe' })] },
    use: async (h) => void (await h.report!([edge(FRONTEND, BACKEND_V1, 'backend')], { jobId: 'use', attempt: 1 })),
  });
});
