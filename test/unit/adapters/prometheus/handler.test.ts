import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { waitFor } from '../../../support/wait';
import { connectRedis, deleteKeys, linesOf, makeHandler, metric, randomPrefix } from './helpers';
import type { TestHandler } from './helpers';

const COUNTER = { name: 'requests_total', instanceName: 'requestcount', kind: 'COUNTER', description: 'Requests.', labelNames: ['app', 'code', 'tls'] };
const HISTO = {
  name: 'latency_ms',
  instanceName: 'default/latency',
  kind: 'DISTRIBUTION',
  labelNames: ['app'],
  buckets: { explicitBuckets: { bounds: [1, 5, 10] } },
};
const GAUGE = { name: 'queue_depth', instanceName: 'depth', kind: 'GAUGE', labelNames: ['q'] };

// The same behaviour is required of both stores: Redis (shared by processes) and memory (embedded mode).
for (const mode of ['memory', 'redis'] as const) {
  describe(`prometheus handler (${mode} store)${mode === 'redis' ? ' @redis' : ''}`, () => {
    let redis: Redis | undefined;
    let prefix: string;
    const open: TestHandler[] = [];

    before(() => {
      if (mode === 'redis') redis = connectRedis();
    });
    after(async () => {
      await redis?.quit();
    });
    beforeEach(() => {
      prefix = randomPrefix();
    });
    afterEach(async () => {
      for (const h of open.splice(0)) await h.close();
      if (redis) await deleteKeys(redis, prefix);
    });

    async function handler(params: Record<string, unknown>, role: 'serve' | 'worker' = 'serve'): Promise<TestHandler> {
      const h = await makeHandler(params, { redis, keyPrefix: prefix, role });
      open.push(h);
      return h;
    }

    it('renders a counter with the summed value per label set; absent dimensions are "unknown", numbers and booleans text', async () => {
      const h = await handler({ metrics: [COUNTER] });
      await h.handler.report(
        [
          metric('default/requestcount', 1, { app: 'reviews', code: 200, tls: true }),
          metric('default/requestcount', 2, { app: 'reviews', code: 200, tls: true }),
          metric('default/requestcount', 1.5, { app: 'ratings', extra: 'ignored' }),
        ],
        { jobId: 'j1', attempt: 1 },
      );
      await h.handler.report([metric('default/requestcount', 4, { app: 'reviews', code: 200, tls: true })], { jobId: 'j2', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.match(text, /# HELP requests_total Requests\.\n# TYPE requests_total counter\n/);
      assert.deepEqual(linesOf(text, 'requests_total'), [
        'requests_total{app="ratings",code="unknown",tls="unknown"} 1.5',
        'requests_total{app="reviews",code="200",tls="true"} 7',
      ]);
    });

    it('CR, NUL and other control characters in a label value never reach /metrics raw; LF, quotes and backslashes are escaped', async () => {
      const h = await handler({ metrics: [COUNTER] });
      await h.handler.report([metric('default/requestcount', 1, { app: 'a\r\nb\u0000c\u001bd"e\\f\tg' })], { jobId: 'c1', attempt: 1 });
      const text = await h.env.registry.metrics();
      // eslint-disable-next-line no-control-regex -- the point: no raw control character in the scrape
      assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character but tab and the line ends');
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="a\ufffd\\nb\ufffdc\ufffdd\\"e\\\\f\tg",code="unknown",tls="unknown"} 1']);
    });

    it('renders a histogram: cumulative le buckets, +Inf, _sum and _count', async () => {
      const h = await handler({ metrics: [HISTO] });
      const obs = [0.5, 1, 5, 7, 100].map((v) => metric('default/latency', v, { app: 'a' }));
      await h.handler.report(obs, { jobId: 'h1', attempt: 1 });
      await h.handler.report([metric('default/latency', 2, { app: 'b' })], { jobId: 'h2', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.match(text, /# TYPE latency_ms histogram\n/);
      assert.deepEqual(linesOf(text, 'latency_ms_bucket'), [
        'latency_ms_bucket{app="a",le="1"} 2',
        'latency_ms_bucket{app="a",le="5"} 3',
        'latency_ms_bucket{app="a",le="10"} 4',
        'latency_ms_bucket{app="a",le="+Inf"} 5',
        'latency_ms_bucket{app="b",le="1"} 0',
        'latency_ms_bucket{app="b",le="5"} 1',
        'latency_ms_bucket{app="b",le="10"} 1',
        'latency_ms_bucket{app="b",le="+Inf"} 1',
      ]);
      assert.deepEqual(linesOf(text, 'latency_ms_sum'), ['latency_ms_sum{app="a"} 113.5', 'latency_ms_sum{app="b"} 2']);
      assert.deepEqual(linesOf(text, 'latency_ms_count'), ['latency_ms_count{app="a"} 5', 'latency_ms_count{app="b"} 1']);
    });

    it('a gauge takes the last value of a batch, and the next batch replaces it', async () => {
      const h = await handler({ metrics: [GAUGE] });
      await h.handler.report([metric('default/depth', 3, { q: 'x' }), metric('default/depth', 7, { q: 'x' })], { jobId: 'g1', attempt: 1 });
      assert.deepEqual(linesOf(await h.env.registry.metrics(), 'queue_depth'), ['queue_depth{q="x"} 7']);
      await h.handler.report([metric('default/depth', 2, { q: 'x' })], { jobId: 'g2', attempt: 1 });
      assert.deepEqual(linesOf(await h.env.registry.metrics(), 'queue_depth'), ['queue_depth{q="x"} 2']);
    });

    it('a job delivered twice (same jobId) counts once', async () => {
      const h = await handler({ metrics: [COUNTER, HISTO] });
      const batch = [metric('default/requestcount', 1, { app: 'a' }), metric('default/latency', 3, { app: 'a' })];
      await h.handler.report(batch, { jobId: 'same', attempt: 1 });
      await h.handler.report(batch, { jobId: 'same', attempt: 2 });
      await h.handler.report(batch, { jobId: 'other', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="a",code="unknown",tls="unknown"} 2']);
      assert.deepEqual(linesOf(text, 'latency_ms_count'), ['latency_ms_count{app="a"} 2']);
    });

    it('skips and counts bad instances without failing the batch (once per job)', async () => {
      const h = await handler({ metrics: [COUNTER, HISTO] });
      const batch = [
        metric('default/requestcount', 'abc', { app: 'a' }),
        metric('default/requestcount', undefined, { app: 'a' }),
        metric('default/requestcount', -1, { app: 'a' }),
        metric('default/requestcount', '2', { app: 'a' }),
        metric('default/latency', -1, { app: 'a' }),
        metric('default/latency', {}, { app: 'a' }),
      ];
      await h.handler.report(batch, { jobId: 'bad', attempt: 1 });
      await h.handler.report(batch, { jobId: 'bad', attempt: 2 });
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="a",code="unknown",tls="unknown"} 2']);
      assert.deepEqual(linesOf(text, 'latency_ms_sum'), ['latency_ms_sum{app="a"} -1']);
      assert.deepEqual(linesOf(text, 'mixer_prometheus_dropped_total').sort(), [
        'mixer_prometheus_dropped_total{metric="latency_ms",reason="non_numeric_value"} 1',
        'mixer_prometheus_dropped_total{metric="requests_total",reason="missing_value"} 1',
        'mixer_prometheus_dropped_total{metric="requests_total",reason="negative_counter_value"} 1',
        'mixer_prometheus_dropped_total{metric="requests_total",reason="non_numeric_value"} 1',
      ]);
    });

    it('caps series per metric: a new series beyond the cap is not created and is counted as overflow', async () => {
      const h = await handler({ metrics: [COUNTER], maxSeriesPerMetric: 2 });
      await h.handler.report(
        [
          metric('default/requestcount', 1, { app: 'a' }),
          metric('default/requestcount', 1, { app: 'b' }),
          metric('default/requestcount', 1, { app: 'c' }),
          metric('default/requestcount', 1, { app: 'c' }),
          metric('default/requestcount', 1, { app: 'a' }),
        ],
        { jobId: 'c1', attempt: 1 },
      );
      await h.handler.report([metric('default/requestcount', 5, { app: 'b' }), metric('default/requestcount', 1, { app: 'd' })], { jobId: 'c2', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), [
        'requests_total{app="a",code="unknown",tls="unknown"} 2',
        'requests_total{app="b",code="unknown",tls="unknown"} 6',
      ]);
      assert.deepEqual(linesOf(text, 'mixer_prometheus_series_overflow_total'), ['mixer_prometheus_series_overflow_total{metric="requests_total"} 3']);
    });

    it('removes series idle for metricsExpiryDuration and keeps the ones still updated', async () => {
      const h = await handler({ metrics: [COUNTER], metricsExpirationPolicy: { metricsExpiryDuration: '400ms', expiryCheckIntervalDuration: '50ms' } });
      await h.handler.report([metric('default/requestcount', 1, { app: 'idle' })], { jobId: 'e0', attempt: 1 });
      let n = 0;
      const lines = await waitFor('the idle series to expire', async () => {
        await h.handler.report([metric('default/requestcount', 1, { app: 'busy' })], { jobId: `e${++n}`, attempt: 1 });
        const l = linesOf(await h.env.registry.metrics(), 'requests_total');
        return l.some((x) => x.includes('app="idle"')) ? undefined : l;
      });
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^requests_total\{app="busy",code="unknown",tls="unknown"\} \d+$/);
      // A series that comes back starts again from zero.
      await h.handler.report([metric('default/requestcount', 1, { app: 'idle' })], { jobId: 'back', attempt: 1 });
      assert.ok(linesOf(await h.env.registry.metrics(), 'requests_total').includes('requests_total{app="idle",code="unknown",tls="unknown"} 1'));
    });

    it('role worker renders nothing of the stored state', async () => {
      const h = await handler({ metrics: [COUNTER, HISTO] }, 'worker');
      await h.handler.report([metric('default/requestcount', 1, { app: 'a' }), metric('default/latency', 1, { app: 'a' })], { jobId: 'w', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), []);
      assert.ok(!text.includes('requests_total') && !text.includes('latency_ms') && !text.includes('overflow'), text);
      assert.equal((await h.handler.store.read(h.handler.settings.metrics[0])).size, 1, 'the worker still applied the job');
    });

    it('feeds every metric of an instance; short instance names resolve in the handler namespace', async () => {
      const h = await handler({ metrics: [COUNTER, { ...COUNTER, name: 'requests_by_app_total', labelNames: ['app'] }] });
      await h.handler.report([metric('default/requestcount', 1, { app: 'a' }), metric('other/requestcount', 1, { app: 'a' })], { jobId: 'f', attempt: 1 });
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_by_app_total'), ['requests_by_app_total{app="a"} 1']);
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="a",code="unknown",tls="unknown"} 1']);
    });

    it('close() is safe twice, unregisters the metrics, and report() after close rejects', async () => {
      const h = await handler({ metrics: [COUNTER] });
      await h.handler.report([metric('default/requestcount', 1, { app: 'a' })], { jobId: 'x', attempt: 1 });
      h.handler.close();
      h.handler.close();
      assert.equal(await h.env.registry.metrics(), '\n');
      await assert.rejects(
        Promise.resolve().then(() => h.handler.report([], { jobId: 'y', attempt: 1 })),
        /closed/,
      );
    });
  });
}
