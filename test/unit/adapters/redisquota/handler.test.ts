import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { redisquotaAdapter } from '../../../../adapters/redisquota';
import { resolveRedisQuotaConfig } from '../../../../adapters/redisquota/config';
import type { RedisQuotaConfig } from '../../../../adapters/redisquota/config';
import { RedisQuotaHandler } from '../../../../adapters/redisquota/handler';
import { Code } from '../../../../src/sdk/adapter';
import type { Handler, InstanceValue, QuotaArgs } from '../../../../src/sdk/adapter';
import { runAdapterConformance, waitFor } from '../../../../src/sdk/conformance';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { OwnedAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';
import { deleteKeys } from '../../../support/redis-keys';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `mixer-test:redisquota:${process.pid}:${Date.now()}:`;
const inst = (dimensions: Record<string, unknown> = {}, name = 'default/requestcount'): InstanceValue => ({ name, template: 'quota', fields: { dimensions } });
const ask = (amount: number, more: Partial<QuotaArgs> = {}): QuotaArgs => ({ amount, bestEffort: false, dedupId: '', ...more });

describe('redisquota @redis', () => {
  after(async () => {
    const cleaner = new Redis(REDIS_URL);
    await deleteKeys(cleaner, PREFIX);
    await cleaner.quit();
  });

  runAdapterConformance(redisquotaAdapter, {
    validParams: { redisServerUrl: REDIS_URL, quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }] },
    invalidParams: [
      { quotas: [{ name: 'q', maxAmount: 1 }] },
      { quotas: [{ name: 'q', maxAmount: 1, validDuration: '1s', rateLimitAlgorithm: 'LEAKY_BUCKET' }] },
      { connectionPoolSize: 0 },
      { redisServerUrl: '' },
    ],
    envOptions: () => ({ keyPrefix: `${PREFIX}conformance:` }),
    use: async (h) => void (await h.quota!(inst(), ask(1))),
  });

  describe('redisquota adapter @redis', () => {
    let redis: Redis;
    const envs: OwnedAdapterEnv[] = [];
    const handlers: Handler[] = [];
    const extraClients: Redis[] = [];
    before(() => {
      redis = new Redis(REDIS_URL);
    });
    afterEach(async () => {
      for (const h of handlers.splice(0)) await h.close?.();
      for (const e of envs.splice(0)) e.dispose();
      for (const c of extraClients.splice(0)) c.disconnect();
      await deleteKeys(redis, PREFIX);
    });
    after(async () => {
      await redis.quit();
    });

    function config(params: unknown): RedisQuotaConfig {
      const r = validateParams(redisquotaAdapter, params, 'params');
      assert.deepEqual(r.errors, []);
      return r.config as RedisQuotaConfig;
    }
    /** A handler as the runtime makes one: same handler name → same key prefix, in any process. */
    async function handler(params: unknown, envRedis: Redis | null = redis): Promise<RedisQuotaHandler> {
      const owned = createAdapterEnv({ handlerName: 'default/redisquota', redis: envRedis ?? undefined, keyPrefix: PREFIX });
      envs.push(owned);
      const h = (await redisquotaAdapter.create(config(params), owned.env)) as RedisQuotaHandler;
      handlers.push(h);
      return h;
    }
    const fixed = (maxAmount: number, validDuration = '1s', more: object = {}): object => ({
      quotas: [{ name: 'requestcount', maxAmount, validDuration, ...more }],
    });

    it('FIXED_WINDOW: 10 per window, the 11th denied, the key expires with the window, then it refills', async () => {
      const h = await handler(fixed(10, '300ms'));
      for (let i = 0; i < 10; i++) assert.deepEqual(await h.quota(inst({ app: 'a' }), ask(1)), { grantedAmount: 1, validDuration: 300 });
      assert.deepEqual(await h.quota(inst({ app: 'a' }), ask(1)), {
        grantedAmount: 0,
        validDuration: 300,
        status: { code: Code.RESOURCE_EXHAUSTED, message: 'quota requestcount is exhausted' },
      });
      const key = h.keyOf(resolveRedisQuotaConfig(config(fixed(10, '300ms'))).quotas[0], { app: 'a' });
      assert.ok(key.startsWith(`${PREFIX}h:default/redisquota:redisquota:fixed:requestcount:`), key);
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 300, `ttl ${ttl}`);
      await waitFor(async () => (await h.quota(inst({ app: 'a' }), ask(10))).grantedAmount === 10, { what: 'the window to end' });
    });

    it('bestEffort grants what remains; overrides apply to matching dimensions only', async () => {
      const h = await handler(fixed(10, '1m', { overrides: [{ dimensions: { source: 'batch' }, maxAmount: 2 }] }));
      assert.equal((await h.quota(inst({ source: 'web' }), ask(7))).grantedAmount, 7);
      assert.equal((await h.quota(inst({ source: 'web' }), ask(5))).grantedAmount, 0);
      assert.equal((await h.quota(inst({ source: 'web' }), ask(5, { bestEffort: true }))).grantedAmount, 3);
      assert.equal((await h.quota(inst({ source: 'batch', code: 200 }), ask(5, { bestEffort: true }))).grantedAmount, 2);
      assert.equal((await h.quota(inst({ code: 200, source: 'batch' }), ask(1))).grantedAmount, 0, 'same dimension set in another key order');
    });

    it('ROLLING_WINDOW counts the buckets of the last validDuration', async () => {
      let clock = 1_700_000_000_000; // a multiple of the bucket length
      const owned = createAdapterEnv({ handlerName: 'default/rolling', redis, keyPrefix: PREFIX });
      envs.push(owned);
      const params = { quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s', bucketDuration: '100ms', rateLimitAlgorithm: 'ROLLING_WINDOW' }] };
      const h = new RedisQuotaHandler(resolveRedisQuotaConfig(config(params)), owned.env, redis, false, { now: () => clock });
      handlers.push(h);
      const take = async (n: number): Promise<number> => (await h.quota(inst(), ask(n, { bestEffort: true }))).grantedAmount;
      assert.equal(await take(5), 5); // bucket 0
      clock += 500;
      assert.equal(await take(5), 5); // bucket 5
      clock += 400;
      assert.equal(await take(1), 0); // t=900: all 10 in the window
      clock += 100;
      assert.equal(await take(10), 5, 't=1000: bucket 0 left the window, bucket 5 still counts');
      clock += 500;
      assert.equal(await take(10), 5, 't=1500: bucket 5 left too');
      const key = h.keyOf(resolveRedisQuotaConfig(config(params)).quotas[0], {});
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 1100, `ttl ${ttl}`);
      assert.ok((await redis.hlen(key)) <= 10, 'old buckets are deleted');
    });

    it('ROLLING_WINDOW on the Redis server clock grants and denies', async () => {
      const h = await handler({
        quotas: [{ name: 'requestcount', maxAmount: 3, validDuration: '1m', bucketDuration: '1s', rateLimitAlgorithm: 'ROLLING_WINDOW' }],
      });
      assert.equal((await h.quota(inst(), ask(3))).grantedAmount, 3);
      assert.equal((await h.quota(inst(), ask(1))).status?.code, Code.RESOURCE_EXHAUSTED);
    });

    it('two replicas with their own connections share one limit, atomically', async () => {
      for (const algorithm of ['FIXED_WINDOW', 'ROLLING_WINDOW']) {
        const a = new Redis(REDIS_URL);
        const b = new Redis(REDIS_URL);
        extraClients.push(a, b);
        const params = { quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1m', bucketDuration: '1s', rateLimitAlgorithm: algorithm }] };
        const h1 = await handler(params, a);
        const h2 = await handler(params, b);
        const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? h1 : h2).quota(inst({ algorithm }), ask(1))));
        assert.equal(
          answers.reduce((sum, r) => sum + r.grantedAmount, 0),
          10,
          algorithm,
        );
        assert.equal((await h2.quota(inst({ algorithm }), ask(1, { bestEffort: true }))).grantedAmount, 0, algorithm);
      }
    });

    it('an unconfigured quota grants 0 with INVALID_ARGUMENT; the short name matches', async () => {
      const h = await handler(fixed(1, '1m'));
      assert.equal((await h.quota(inst({}, 'istio-system/requestcount'), ask(1))).grantedAmount, 1);
      assert.deepEqual(await h.quota(inst({}, 'default/other'), ask(1)), {
        grantedAmount: 0,
        validDuration: 0,
        status: { code: Code.INVALID_ARGUMENT, message: 'redisquota has no limit for quota default/other' },
      });
    });

    it('redisServerUrl opens (and close() closes) a connection of its own; the env connection is left open', async () => {
      const own = await handler({ redisServerUrl: REDIS_URL.replace(/^redis:\/\//, ''), ...fixed(5, '1m') }, null);
      assert.equal((await own.quota(inst(), ask(5))).grantedAmount, 5);
      const shared = await handler(fixed(5, '1m'));
      assert.equal((await shared.quota(inst(), ask(1))).grantedAmount, 0, 'same handler name, same limit');
      const ownClient = (own as unknown as { redis: Redis }).redis;
      await own.close();
      await own.close();
      await waitFor(() => ownClient.status === 'end', { what: 'the own connection to end' });
      await shared.close();
      assert.equal(await redis.ping(), 'PONG');
    });

    it('without redisServerUrl or env.redis, create fails clearly', async () => {
      await assert.rejects(handler(fixed(1), null), /redisquota needs Redis: set params\.redisServerUrl/);
    });

    it('rejects a ROLLING_WINDOW without a usable bucketDuration, and duplicate names', async () => {
      const rolling = (bucketDuration?: string, validDuration = '1s') => ({
        quotas: [{ name: 'q', maxAmount: 1, validDuration, bucketDuration, rateLimitAlgorithm: 'ROLLING_WINDOW' }],
      });
      await assert.rejects(handler(rolling()), /bucketDuration: ROLLING_WINDOW needs/);
      await assert.rejects(handler(rolling('1s')), /less than validDuration/);
      await assert.rejects(handler(rolling('1ms', '1001ms')), /at most 1000 buckets/);
      await assert.rejects(
        handler({
          quotas: [
            { name: 'q', maxAmount: 1, validDuration: '1s' },
            { name: 'q', maxAmount: 1, validDuration: '2s' },
          ],
        }),
        /configured twice/,
      );
    });

    it('a Redis that cannot be reached makes quota() reject (the core answers UNAVAILABLE)', async () => {
      const srv = createServer();
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const port = (srv.address() as AddressInfo).port;
      await new Promise((resolve) => srv.close(resolve));
      const h = await handler({ redisServerUrl: `127.0.0.1:${port}`, ...fixed(5) }, null);
      await assert.rejects(h.quota(inst(), ask(1)));
    });
  });
});
