import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { graphAdapter } from '../../../../adapters/graph';
import { isPermanent, RouteError } from '../../../../src/sdk/adapter';
import { runAdapterConformance } from '../../../../src/sdk/conformance';
import type { WindowName } from '../../../../adapters/graph/windows';
import {
  BACKEND_V1,
  BACKEND_V2,
  Clock,
  deleteKeys,
  edge,
  edgeOf,
  FRONTEND,
  graphJson,
  Harness,
  INGRESS,
  jobsOfOneShard,
  REDIS_URL,
  T0,
  testPrefix,
  times,
} from './fixtures';

runAdapterConformance(graphAdapter, {
  validParams: { maxEdges: 100 },
  invalidParams: [{ maxEdges: 0 }, { maxEdges: 'many' }, { window: '1m' }],
  badReport: { instances: [edge(FRONTEND, BACKEND_V1, 'backend', { duration: 'soon' })] },
  use: async (h) => void (await h.report!([edge(FRONTEND, BACKEND_V1, 'backend')], { jobId: 'use', attempt: 1 })),
});

const APP = {
  ingress: 'app:istio-system/istio-ingressgateway',
  frontend: 'app:shop/frontend/v1',
  v1: 'app:shop/backend/v1',
  v2: 'app:shop/backend/v2',
};

/** The same behaviour, in embedded mode (memory) and with Redis. */
for (const mode of ['memory', 'redis'] as const) {
  describe(`graph adapter (${mode})${mode === 'redis' ? ' @redis' : ''}`, () => {
    const prefix = testPrefix(`handler-${mode}`);
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

    it('counts requests, 5xx share, latency percentiles, bytes and mTLS share exactly', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      const batch = [
        ...times(47, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 10, requestBytes: 100, responseBytes: 900, mtls: true })),
        ...times(3, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 10, requestBytes: 100, responseBytes: 900, mtls: false, responseCode: 503 })),
        ...times(1, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 100, requestBytes: 100, responseBytes: 900, mtls: false, responseCode: 404 })),
        ...times(44, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 100, requestBytes: 100, responseBytes: 900, mtls: true })),
        ...times(5, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 1000, requestBytes: 100, responseBytes: 900, mtls: false })),
      ];
      await handler.report(batch, { jobId: 'job-1', attempt: 1 });
      const g = await graphJson(handler, { window: '5m' });
      assert.equal(g.window, '5m');
      assert.equal(g.duration, 300);
      assert.equal(g.timestamp, Math.floor(T0 / 1000));
      const e = edgeOf(g, APP.frontend, APP.v1);
      assert.ok(e, 'edge frontend → backend v1');
      // T0 is 35 s into the hour: the 30 ten-second buckets of 5m cover 295 s.
      assert.equal(e.requests, 100);
      assert.equal(e.errors, 3);
      assert.equal(e.errorRate, 0.03);
      assert.equal(e.requestRate, Math.round((100 / 295) * 1e6) / 1e6);
      assert.equal(e.bytesRate, Math.round((100_000 / 295) * 1e6) / 1e6);
      assert.equal(e.mtlsShare, 0.91);
      assert.equal(e.p50, 10);
      assert.equal(e.p95, 100);
      assert.equal(e.p99, 1000);
      assert.equal(e.meanLatency, (50 * 10 + 45 * 100 + 5 * 1000) / 100);
      assert.equal(e.protocol, 'http');
    });

    it('renders ingress → frontend → backend v1/v2 as versioned app nodes, with unknown and service-only nodes', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      await handler.report(
        [
          ...times(4, edge(INGRESS, FRONTEND, 'frontend')),
          ...times(3, edge(FRONTEND, BACKEND_V1, 'backend')),
          ...times(1, edge(FRONTEND, BACKEND_V2, 'backend', { apiProtocol: 'grpc' })),
          edge(undefined, FRONTEND, 'frontend'),
          edge(BACKEND_V2, undefined, 'payments.example.com', { destinationServiceNamespace: undefined }),
          edge({ ns: 'batch', workload: 'cron-reporter' }, BACKEND_V1, 'backend'),
        ],
        { jobId: 'job-nodes', attempt: 1 },
      );
      const g = await graphJson(handler);
      assert.equal(g.window, '5m', 'default window');
      const nodes = Object.fromEntries(g.elements.nodes.map((n) => [n.data.id, n.data]));
      assert.deepEqual(Object.keys(nodes).sort(), [
        APP.ingress,
        APP.v1,
        APP.v2,
        APP.frontend,
        'service:unknown/payments.example.com',
        'unknown',
        'workload:batch/cron-reporter',
      ]);
      assert.deepEqual(nodes[APP.v2], {
        id: APP.v2,
        nodeType: 'app',
        namespace: 'shop',
        app: 'backend',
        version: 'v2',
        workload: 'backend-v2',
        service: 'backend',
      });
      assert.deepEqual(nodes[APP.ingress], {
        id: APP.ingress,
        nodeType: 'app',
        namespace: 'istio-system',
        app: 'istio-ingressgateway',
        version: '',
        workload: 'istio-ingressgateway',
        service: '',
      });
      assert.equal(nodes['workload:batch/cron-reporter'].nodeType, 'workload');
      assert.equal(nodes['service:unknown/payments.example.com'].nodeType, 'service');
      assert.equal(nodes.unknown.workload, 'unknown');
      const pairs = g.elements.edges.map((e) => `${e.data.source} > ${e.data.target} ${e.data.protocol} ${e.data.requests}`).sort();
      assert.deepEqual(pairs, [
        `${APP.ingress} > ${APP.frontend} http 4`,
        `${APP.v2} > service:unknown/payments.example.com http 1`,
        `${APP.frontend} > ${APP.v1} http 3`,
        `${APP.frontend} > ${APP.v2} grpc 1`,
        `unknown > ${APP.frontend} http 1`,
        `workload:batch/cron-reporter > ${APP.v1} http 1`,
      ]);
      assert.equal(new Set(g.elements.edges.map((e) => e.data.id)).size, 6, 'edge ids are unique');
    });

    it('counts a job id once, however often it is delivered', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      const batch = times(5, edge(FRONTEND, BACKEND_V1, 'backend'));
      await handler.report(batch, { jobId: 'job-a', attempt: 1 });
      await handler.report(batch, { jobId: 'job-a', attempt: 2 });
      clock.advance(20_000);
      await handler.report(batch, { jobId: 'job-a', attempt: 3 });
      assert.equal(edgeOf(await graphJson(handler), APP.frontend, APP.v1)?.requests, 5);
      await handler.report(batch, { jobId: 'job-b', attempt: 1 });
      assert.equal(edgeOf(await graphJson(handler), APP.frontend, APP.v1)?.requests, 10, 'another job counts');
    });

    it('1m, 5m and 1h windows age requests out at their own pace', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      await handler.report(times(2, edge(FRONTEND, BACKEND_V1, 'backend')), { jobId: 'at-0', attempt: 1 });
      clock.advance(2 * 60_000);
      await handler.report(times(3, edge(FRONTEND, BACKEND_V2, 'backend')), { jobId: 'at-2m', attempt: 1 });
      const requests = async (window: string): Promise<string> => {
        const g = await graphJson(handler, { window: window as WindowName });
        return g.elements.edges
          .map((e) => `${e.data.target}=${e.data.requests}`)
          .sort()
          .join(' ');
      };
      assert.equal(await requests('1m'), `${APP.v2}=3`);
      assert.equal(await requests('5m'), `${APP.v1}=2 ${APP.v2}=3`);
      assert.equal(await requests('1h'), `${APP.v1}=2 ${APP.v2}=3`);
      clock.advance(8 * 60_000);
      assert.equal(await requests('1m'), '');
      assert.equal(await requests('5m'), '');
      assert.equal(await requests('1h'), `${APP.v1}=2 ${APP.v2}=3`);
      clock.advance(51 * 60_000); // T0 + 61 min: the first minute has left the hour
      assert.equal(await requests('1h'), `${APP.v2}=3`);
      clock.advance(2 * 60_000);
      assert.equal(await requests('1h'), '');
    });

    it('counts a request at its own timestamp when it has one', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      await handler.report(
        [
          edge(FRONTEND, BACKEND_V1, 'backend', { timestamp: T0 - 3 * 60_000 }),
          edge(FRONTEND, BACKEND_V2, 'backend', { timestamp: new Date(T0 - 1000).toISOString() }),
        ],
        { jobId: 'stamped', attempt: 1 },
      );
      const targets = async (window: string): Promise<string[]> =>
        (await graphJson(handler, { window: window as WindowName })).elements.edges.map((e) => e.data.target).sort();
      assert.deepEqual(await targets('1m'), [APP.v2]);
      assert.deepEqual(await targets('5m'), [APP.v1, APP.v2]);
    });

    it('keeps at most maxEdges edges per time bucket and counts the rest as dropped', async () => {
      const clock = new Clock();
      const { handler, env } = harness.handler(clock, { maxEdges: 2 });
      // Two jobs of one shard: in Redis a bucket is kept per shard, each shard holding at most maxEdges.
      const [first, second] = jobsOfOneShard(2);
      await handler.report([edge(INGRESS, FRONTEND, 'frontend'), edge(FRONTEND, BACKEND_V1, 'backend')], { jobId: first, attempt: 1 });
      await handler.report([edge(FRONTEND, BACKEND_V1, 'backend'), edge(FRONTEND, BACKEND_V2, 'backend')], { jobId: second, attempt: 1 });
      const g = await graphJson(handler);
      assert.equal(g.elements.edges.length, 2);
      assert.equal(edgeOf(g, APP.frontend, APP.v1)?.requests, 2, 'known edges still count');
      const metric = await env.env.registry.getSingleMetricAsString('mixer_graph_edges_dropped_total');
      assert.match(metric, /mixer_graph_edges_dropped_total 2\b/, 'one drop per resolution');
    });

    it('rejects malformed instances permanently and counts nothing of the batch', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      const batch = [edge(FRONTEND, BACKEND_V1, 'backend'), edge(FRONTEND, BACKEND_V1, 'backend', { responseCode: 'teapot' })];
      await assert.rejects(
        Promise.resolve(handler.report(batch, { jobId: 'bad', attempt: 1 })),
        (err: unknown) => isPermanent(err) && /responseCode/.test(String(err)),
      );
      assert.equal((await graphJson(handler)).elements.edges.length, 0);
    });

    it('a negative size or duration of one request counts it (as 0 bytes, no latency) instead of failing the batch (found by fuzzing)', async () => {
      const clock = new Clock();
      const { handler } = harness.handler(clock);
      const batch = [
        ...times(3, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 10, requestBytes: 100, responseBytes: 900 })),
        edge(FRONTEND, BACKEND_V1, 'backend', { duration: '-3ms', requestBytes: -163367856218, responseBytes: -1 }),
      ];
      await handler.report(batch, { jobId: 'negative', attempt: 1 });
      const e = edgeOf(await graphJson(handler, { window: '5m' }), APP.frontend, APP.v1);
      assert.ok(e, 'edge frontend → backend v1');
      assert.equal(e.requests, 4);
      assert.equal(e.bytesRate, Math.round((3000 / 295) * 1e6) / 1e6);
      assert.equal(e.meanLatency, 10);
    });

    it('answers a bad window or format with a RouteError naming the parameter', async () => {
      const { handler } = harness.handler(new Clock());
      const route = handler.routes['/v1/graph'];
      for (const [query, field] of [
        [{ window: '2m' }, 'window'],
        [{ window: '' }, 'window'],
        [{ format: 'svg' }, 'format'],
        [{ window: '1h', format: 'JSON' }, 'format'],
      ] as const) {
        await assert.rejects(
          Promise.resolve().then(() => route(query)),
          (err: unknown) => err instanceof RouteError && err.field === field && err.status === 400,
          JSON.stringify(query),
        );
      }
      const dot = await route({ format: 'dot', window: '1m' });
      assert.match(String(dot.contentType), /graphviz/);
      assert.match(String(dot.body), /^digraph mesh \{/);
    });
  });
}
