import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { isTruncatedLabelValue } from '../../../../src/sdk/label-value';
import type { Side } from './fixtures';
import { Clock, deleteKeys, edge, FRONTEND, Harness, REDIS_URL, routeJson, testPrefix, times } from './fixtures';

/** A backend workload of its own, `i`. */
const backend = (i: number): Side => ({ ns: 'shop', workload: `backend-${i}`, app: `backend-${i}`, version: 'v1' });

for (const mode of ['memory', 'redis'] as const) {
  describe(`graph adapter limits (${mode})${mode === 'redis' ? ' @redis' : ''}`, () => {
    const prefix = testPrefix(`limits-${mode}`);
    let redis: Redis | undefined;
    const harness = new Harness(prefix, () => redis);
    before(() => {
      if (mode === 'redis') redis = new Redis(REDIS_URL);
    });
    afterEach(async () => {
      await harness.cleanup();
      if (redis) await deleteKeys(redis, prefix);
    });
    after(async () => {
      if (redis) {
        await deleteKeys(redis, prefix);
        await redis.quit();
      }
    });

    it('GET /v1/graph answers from a cache for the rest of the time bucket, per window and format', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      await handler.report(times(2, edge(FRONTEND, backend(1), 'backend-1')), { jobId: 'a', attempt: 1 });
      const first = await routeJson(handler, { window: '1m' });
      assert.equal(first.elements.edges.length, 1);
      await handler.report(times(2, edge(FRONTEND, backend(2), 'backend-2')), { jobId: 'b', attempt: 1 });
      clock.advance(1000);
      assert.deepEqual(await routeJson(handler, { window: '1m' }), first, 'same 10 s bucket: the same answer');
      assert.equal((await routeJson(handler, { window: '5m' })).elements.edges.length, 2, 'another window is computed on its own');
      const route = handler.routes['/v1/graph'];
      const [x, y] = await Promise.all([route({ window: '1h', format: 'dot' }), route({ window: '1h', format: 'dot' })]);
      assert.equal(x, y, 'callers in one bucket share one answer');
      clock.advance(10_000);
      assert.equal((await routeJson(handler, { window: '1m' })).elements.edges.length, 2, 'the next bucket reads afresh');
    });

    it('caps the edges of an answer at maxGraphEdges, keeping the busiest, and says how many were left out', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock, { maxGraphEdges: 5 });
      const batch = [];
      for (let i = 0; i < 20; i++) batch.push(...times(i + 1, edge(FRONTEND, backend(i), `backend-${i}`)));
      await handler.report(batch, { jobId: 'many', attempt: 1 });
      const g = await routeJson(handler);
      assert.equal(g.omittedEdges, 15);
      assert.deepEqual(
        g.elements.edges.map((e) => e.data.requests).sort((a, b) => Number(a) - Number(b)),
        [16, 17, 18, 19, 20],
      );
      assert.equal(g.elements.nodes.length, 6, 'only the nodes of the edges shown');
      const dot = await handler.routes['/v1/graph']({ format: 'dot' });
      assert.match(String(dot.body), /15 least busy edges left out/);
    });

    it('cuts text fields to maxLabelValueLength (default 256 bytes) and counts them', async () => {
      const clock = new Clock();
      const { handler, env } = harness.handler(clock);
      const huge: Side = { ns: 'shop', workload: 'w'.repeat(100_000), app: 'a'.repeat(100_000), version: 'v1' };
      await handler.report(times(3, edge(FRONTEND, huge, 's'.repeat(100_000))), { jobId: 'huge', attempt: 1 });
      const g = await routeJson(handler);
      assert.equal(g.elements.edges.length, 1);
      assert.equal(g.elements.edges[0].data.requests, 3);
      const node = g.elements.nodes.find((n) => n.data.workload !== FRONTEND.workload)!.data;
      for (const f of ['workload', 'app', 'service']) {
        assert.ok(Buffer.byteLength(node[f]) <= 256, `${f}: ${Buffer.byteLength(node[f])} bytes`);
        assert.ok(isTruncatedLabelValue(node[f]), f);
      }
      assert.ok(JSON.stringify(g).length < 4000, `answer ${JSON.stringify(g).length} bytes`);
      assert.match(await env.env.registry.getSingleMetricAsString('mixer_graph_label_values_truncated_total'), / 3\n?$/m);
    });

    it('keeps at most maxBucketBytes of edge state per bucket and counts the edges refused', async () => {
      const clock = new Clock();
      const { handler, env } = harness.handler(clock, { maxBucketBytes: 8192 });
      const batch = [];
      for (let i = 0; i < 200; i++) batch.push(edge(FRONTEND, backend(i), `backend-${i}`));
      await handler.report(batch, { jobId: 'bytes', attempt: 1 });
      const g = await routeJson(handler, { window: '1m' });
      const kept = g.elements.edges.length;
      assert.ok(kept > 5 && kept < 200, `${kept} edges kept`);
      const dropped = Number(
        /mixer_graph_edges_dropped_total (\d+)/.exec(await env.env.registry.getSingleMetricAsString('mixer_graph_edges_dropped_total'))![1],
      );
      assert.equal(dropped, 2 * (200 - kept), 'each refused edge counted once per resolution');
      if (redis) {
        const keys = (await redis.keys(`${prefix}*{graph:*}:b:*`)).filter((k) => !k.endsWith(':bytes'));
        for (const k of keys) assert.ok((await redis.memory('USAGE', k))! < 3 * 8192, `${k} holds ${await redis.memory('USAGE', k)} bytes`);
      }
    });
  });
}
