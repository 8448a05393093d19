import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { seriesShard } from '../../../../adapters/prometheus/redis-store';
import { slotOf } from '../../../../src/base/hash-tags';
import { connectRedis, deleteKeys, keysUnder, linesOf, makeHandler, metric, randomPrefix } from './helpers';
import type { TestHandler } from './helpers';

const PARAMS = {
  metrics: [{ name: 'big_total', instanceName: 'requestcount', kind: 'COUNTER', labelNames: ['app'], redisShards: 4 }],
  maxSeriesPerMetric: 40,
};

/** A big metric spread over several hash slots (`redisShards`): the same totals, its series over 4 tags. */
describe('prometheus handler: a metric spread over Redis shards (redisShards) @redis', () => {
  let conn: Redis;
  let prefix: string;
  let h: TestHandler;
  before(async () => {
    conn = connectRedis();
    prefix = randomPrefix();
    h = await makeHandler(PARAMS, { redis: conn, keyPrefix: prefix });
  });
  after(async () => {
    await h.close();
    await deleteKeys(conn, prefix);
    await conn.quit();
  });

  it('spreads 20 series over 4 tags on different slots, renders every one, and counts a redelivered job once', async () => {
    const batch = Array.from({ length: 20 }, (_, i) => metric('default/requestcount', 1, { app: `a${i}` }));
    await h.handler.report(batch, { jobId: 'j1', attempt: 1 });
    await h.handler.report(batch, { jobId: 'j1', attempt: 2 });
    await h.handler.report(batch, { jobId: 'j2', attempt: 1 });
    const lines = linesOf(await h.env.registry.metrics(), 'big_total');
    assert.equal(lines.length, 20);
    assert.ok(
      lines.every((l) => l.endsWith(' 2')),
      lines.join('\n'),
    );
    const keys = await keysUnder(conn, prefix);
    const tags = new Set(keys.map((k) => /\{prom:big_total(#\d+)?\}/.exec(k)![0]));
    assert.equal(tags.size, 4, [...tags].join(', '));
    assert.equal(new Set([...tags].map((t) => slotOf(t))).size, 4, 'four slots');
    const used = new Set(Array.from({ length: 20 }, (_, i) => seriesShard(JSON.stringify([`a${i}`]), 4)));
    assert.equal(used.size, 4, 'the series hash uses every shard');
  });

  it('caps series per shard at its part of maxSeriesPerMetric (40 / 4): new series beyond it are counted as overflow', async () => {
    const batch = Array.from({ length: 200 }, (_, i) => metric('default/requestcount', 1, { app: `b${i}` }));
    await h.handler.report(batch, { jobId: 'many', attempt: 1 });
    const text = await h.env.registry.metrics();
    const kept = linesOf(text, 'big_total').length;
    assert.ok(kept <= 40 && kept >= 36, `${kept} series kept (≤ 10 per shard)`);
    const overflow = Number(/mixer_prometheus_series_overflow_total\{metric="big_total"\} (\d+)/.exec(text)?.[1]);
    assert.equal(overflow, 200 - (kept - 20), 'every refused instance counted');
  });
});
