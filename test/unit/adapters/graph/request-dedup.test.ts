import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { BACKEND_V1, Clock, deleteKeys, edge, FRONTEND, graphJson, Harness, REDIS_URL, testPrefix } from './fixtures';

/** Requests on every edge of the 5m window. */
async function total(h: Parameters<typeof graphJson>[0]): Promise<number> {
  const g = await graphJson(h, { window: '5m' });
  return g.elements.edges.reduce((n, e) => n + Number(e.data.requests), 0);
}

const outbound = (id: string | undefined) => edge(FRONTEND, undefined, 'backend', { reporterKind: 'outbound', ...(id ? { requestId: id } : {}) });
const inbound = (id: string | undefined) => edge(FRONTEND, BACKEND_V1, 'backend', { reporterKind: 'inbound', ...(id ? { requestId: id } : {}) });

for (const store of ['memory', 'redis'] as const) {
  describe(`graph adapter: a request reported by both sides counts once (${store} store)${store === 'redis' ? ' @redis' : ''}`, () => {
    const prefix = testPrefix(`dedup-${store}`);
    let redis: Redis | undefined;
    const harness = new Harness(prefix, () => redis!);
    before(() => {
      if (store === 'redis') redis = new Redis(REDIS_URL);
    });
    afterEach(async () => {
      await harness.cleanup();
      if (redis) await deleteKeys(redis, prefix);
    });
    after(async () => {
      await redis?.quit();
    });

    const make = () => harness.handler(new Clock(), {}, store === 'redis' ? redis : undefined).handler;

    it('across jobs and within one job; a side alone still counts; a redelivered job counts the same ids again', async () => {
      const h = make();
      await h.report([outbound('a'), outbound('b'), outbound('c')], { jobId: 'client', attempt: 1 });
      await h.report([inbound('a'), inbound('b'), inbound('d'), inbound('d')], { jobId: 'server', attempt: 1 });
      assert.equal(await total(h), 4, 'a, b, c from the client side, d once from the server side');
      // The client's job comes again (redelivery): it owns a, b, c, but its job marker stops a second count.
      await h.report([outbound('a'), outbound('b'), outbound('c')], { jobId: 'client', attempt: 2 });
      assert.equal(await total(h), 4);
    });

    it('tells the hops of one request apart: the same x-request-id calling another service is another call', async () => {
      const h = make();
      await h.report([inbound('chain-1'), edge(BACKEND_V1, undefined, 'db.shop.svc.cluster.local', { reporterKind: 'outbound', requestId: 'chain-1' })], {
        jobId: 'j1',
        attempt: 1,
      });
      await h.report([edge(FRONTEND, undefined, 'backend.shop.svc.cluster.local', { reporterKind: 'outbound', requestId: 'chain-1' })], {
        jobId: 'j2',
        attempt: 1,
      });
      assert.equal(await total(h), 2, 'frontend → backend (both sides, by name and by host) once, backend → db once');
    });

    it('counts inbound reports without a request id as before, and skips outbound ones without it', async () => {
      const h = make();
      await h.report([inbound(undefined), inbound(undefined), outbound(undefined)], { jobId: 'j', attempt: 1 });
      assert.equal(await total(h), 2);
    });
  });
}
