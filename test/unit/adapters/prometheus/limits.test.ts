import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { isTruncatedLabelValue, truncateLabelValue } from '../../../../src/sdk/label-value';
import { waitFor } from '../../../support/wait';
import { connectRedis, deleteKeys, linesOf, makeHandler, metric, randomPrefix } from './helpers';
import type { TestHandler } from './helpers';

const LABELS = ['reporter', 'source_workload', 'destination_service', 'response_code'];

function params(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metrics: [
      { name: 'requests_total', instanceName: 'requestcount', kind: 'COUNTER', labelNames: LABELS },
      { name: 'duration_ms', instanceName: 'duration', kind: 'DISTRIBUTION', labelNames: LABELS, buckets: [1, 5, 10, 50, 100, 500, 1000] },
    ],
    ...extra,
  };
}

function dims(i: number, host = `svc-${i}.shop.svc.cluster.local`): Record<string, unknown> {
  return { reporter: 'destination', source_workload: `frontend-${i}`, destination_service: host, response_code: 200 };
}

/** The exposition lines of the handler's own metrics (configured ones and the adapter's counters). */
function handlerBytes(text: string): number {
  return text
    .split('\n')
    .filter((l) => /^(# (HELP|TYPE) )?(requests_total|duration_ms)/.test(l))
    .reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
}

describe('label-value truncation (SDK)', () => {
  it('keeps short values and cuts long ones on a character boundary, with a marker and a hash', () => {
    assert.equal(truncateLabelValue('backend', 256), 'backend');
    const long = 'é'.repeat(1000);
    const cut = truncateLabelValue(long, 256);
    assert.ok(Buffer.byteLength(cut) <= 256, `${Buffer.byteLength(cut)} bytes`);
    assert.ok(isTruncatedLabelValue(cut));
    assert.ok(cut.startsWith('éé'));
    assert.ok(!cut.includes('\ufffd'), 'no character cut in half');
    assert.notEqual(truncateLabelValue(`${long}a`, 256), truncateLabelValue(`${long}b`, 256), 'values sharing their start stay apart');
  });
});

for (const backend of ['memory', 'redis'] as const) {
  describe(`prometheus handler limits (${backend} store)${backend === 'redis' ? ' @redis' : ''}`, () => {
    let redis: Redis | undefined;
    let prefix: string;
    const open: TestHandler[] = [];

    before(() => {
      if (backend === 'redis') redis = connectRedis();
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

    async function handler(p: unknown): Promise<TestHandler> {
      const h = await makeHandler(p, { redis, keyPrefix: prefix });
      open.push(h);
      return h;
    }

    it('cuts a 100 KB label value to maxLabelValueLength (default 256 bytes) and counts it', async () => {
      const h = await handler(params());
      const host = 'x'.repeat(100_000);
      for (let j = 0; j < 3; j++) {
        await h.handler.report([metric('default/requestcount', 1, dims(1, host)), metric('default/duration', 3, dims(1, host))], {
          jobId: `big-${j}`,
          attempt: 1,
        });
      }
      const text = await h.env.registry.metrics();
      const [line] = linesOf(text, 'requests_total');
      assert.ok(line !== undefined && line.endsWith(' 3'), line);
      const value = /destination_service="([^"]*)"/.exec(line)![1];
      assert.ok(Buffer.byteLength(value) <= 256, `${Buffer.byteLength(value)} bytes`);
      assert.ok(isTruncatedLabelValue(value), value);
      assert.ok(Buffer.byteLength(text) < 20_000, `whole exposition ${Buffer.byteLength(text)} bytes`);
      assert.deepEqual(linesOf(text, 'mixer_prometheus_label_values_truncated_total').sort(), [
        'mixer_prometheus_label_values_truncated_total{metric="duration_ms"} 3',
        'mixer_prometheus_label_values_truncated_total{metric="requests_total"} 3',
      ]);
    });

    it('a longer maxLabelValueLength keeps more of the value', async () => {
      const h = await handler(params({ maxLabelValueLength: 1024 }));
      await h.handler.report([metric('default/requestcount', 1, dims(1, 'y'.repeat(5000)))], { jobId: 'j', attempt: 1 });
      const value = /destination_service="([^"]*)"/.exec(linesOf(await h.env.registry.metrics(), 'requests_total')[0])![1];
      assert.ok(Buffer.byteLength(value) > 900 && Buffer.byteLength(value) <= 1024, `${Buffer.byteLength(value)} bytes`);
    });

    it('bounds what one scrape renders by maxScrapeBytes and counts every instance it refused', async () => {
      const maxScrapeBytes = 256 * 1024;
      const h = await handler(params({ maxScrapeBytes }));
      const total = 6000;
      for (let b = 0; b < total / 500; b++) {
        const batch = [];
        for (let i = b * 500; i < (b + 1) * 500; i++) batch.push(metric('default/requestcount', 1, dims(i)), metric('default/duration', 3, dims(i)));
        await h.handler.report(batch, { jobId: `batch-${b}`, attempt: 1 });
      }
      const text = await h.env.registry.metrics();
      const bytes = handlerBytes(text);
      assert.ok(bytes <= maxScrapeBytes, `the handler's metrics render ${bytes} bytes`);
      const counted = linesOf(text, 'requests_total').map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
      const durations = linesOf(text, 'duration_ms_count').length;
      assert.ok(counted.length > 100 && counted.length < total, `${counted.length} counter series kept`);
      assert.ok(durations > 50 && durations < total, `${durations} histogram series kept`);
      const overflow = Object.fromEntries(
        linesOf(text, 'mixer_prometheus_series_overflow_total').map((l) => [/metric="([^"]+)"/.exec(l)![1], Number(l.slice(l.lastIndexOf(' ') + 1))]),
      );
      assert.equal(overflow.requests_total + counted.reduce((a, n) => a + n, 0), total, 'every instance is either counted or in the overflow counter');
      assert.equal(overflow.duration_ms + durations, total);
      // Known series keep counting once the budget is full.
      await h.handler.report([metric('default/requestcount', 1, dims(0))], { jobId: 'again', attempt: 1 });
      const again = linesOf(await h.env.registry.metrics(), 'requests_total');
      assert.ok(
        again.some((l) => l.includes('source_workload="frontend-0"') && l.endsWith(' 2')),
        'series 0 counted twice',
      );
    });

    it('gives the bytes of swept series back to the budget', async () => {
      const h = await handler(params({ maxScrapeBytes: 8192, metricsExpirationPolicy: { metricsExpiryDuration: '50ms', expiryCheckIntervalDuration: '1h' } }));
      const fill = async (from: number, job: string): Promise<void> => {
        const batch = [];
        for (let i = from; i < from + 200; i++) batch.push(metric('default/requestcount', 1, dims(i)));
        await h.handler.report(batch, { jobId: job, attempt: 1 });
      };
      await fill(0, 'first');
      const before = linesOf(await h.env.registry.metrics(), 'requests_total').length;
      assert.ok(before > 0 && before < 200, `${before} series`);
      // Swept (memory), or gone with their keys' TTL (Redis: the keys expire with the series).
      await waitFor('the idle series to go', async () => {
        await h.handler.sweep();
        return linesOf(await h.env.registry.metrics(), 'requests_total').length === 0;
      });
      await fill(1000, 'second');
      const lines = linesOf(await h.env.registry.metrics(), 'requests_total');
      assert.equal(lines.length, before, 'the same room again');
      assert.ok(lines.every((l) => /frontend-1\d\d\d"/.test(l)));
    });
  });
}
