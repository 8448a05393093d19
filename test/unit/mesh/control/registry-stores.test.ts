import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryRegistryStore } from '../../../../src/mesh/control/registry-memory-store';
import { RedisRegistryStore } from '../../../../src/mesh/control/registry-redis-store';
import type { RegistryStore, ServiceInstance } from '../../../../src/mesh/common/registry-types';
import { decodeInstance } from '../../../../src/mesh/common/registry-types';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function inst(id: string, version = 'v1'): ServiceInstance {
  return {
    id,
    service: 'backend',
    namespace: 'default',
    workload: `backend-${version}`,
    labels: { app: 'backend', version },
    address: '127.0.0.1:15006',
    principal: 'spiffe://cluster.local/ns/default/sa/backend',
  };
}

function storeContract(name: string, make: (now: () => number) => Promise<RegistryStore>, cleanup: () => Promise<void> = async () => undefined): void {
  describe(name, () => {
    let t: number;
    let store: RegistryStore;
    beforeEach(async () => {
      t = Date.now();
      store = await make(() => t);
    });
    afterEach(cleanup);

    it('lists instances until their TTL passes without a heartbeat', async () => {
      await store.heartbeat(inst('b-2', 'v2'), 10_000);
      await store.heartbeat(inst('b-1'), 10_000);
      assert.deepEqual(
        (await store.list('default', 'backend')).map((i) => i.id),
        ['b-1', 'b-2'],
      );
      assert.deepEqual(await store.list('default', 'other'), []);
      t += 5_000;
      await store.heartbeat(inst('b-1'), 10_000);
      t += 6_000;
      assert.deepEqual(
        (await store.list('default', 'backend')).map((i) => i.id),
        ['b-1'],
        'b-2 stopped heartbeating',
      );
      assert.deepEqual((await store.list('default', 'backend'))[0], inst('b-1'));
    });

    it('leave removes at once', async () => {
      await store.heartbeat(inst('b-1'), 10_000);
      await store.leave('default', 'backend', 'b-1');
      assert.deepEqual(await store.list('default', 'backend'), []);
    });
  });
}

describe('mesh/control registry stores', () => {
  storeContract('memory', async (now) => new MemoryRegistryStore(now));

  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  storeContract(
    'redis @redis',
    async (now) => {
      if (redis.status !== 'ready') await redis.connect();
      return new RedisRegistryStore(redis, prefix, now);
    },
    async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    },
  );
  after(() => redis.disconnect());

  it('decodeInstance names every bad field', () => {
    const { errors } = decodeInstance({
      id: '',
      service: 'Bad_Name',
      namespace: 'default',
      workload: 'w',
      address: 'nope',
      principal: 'p',
      labels: { a: 1 },
      extra: true,
    });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['instance.address', 'instance.extra', 'instance.id', 'instance.labels.a', 'instance.service']);
    assert.ok(decodeInstance(inst('ok')).instance);
  });
});
