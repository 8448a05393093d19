import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { isPermanent } from '../../../../src/sdk/adapter';
import { JOB_MARKER_TTL_S } from '../../../../adapters/prometheus/store';
import { waitFor } from '../../../support/wait';
import { connectRedis, deleteKeys, keysUnder, linesOf, makeHandler, metric, randomPrefix } from './helpers';
import type { TestHandler } from './helpers';

const PARAMS = {
  metrics: [
    { name: 'requests_total', instanceName: 'requestcount', kind: 'COUNTER', labelNames: ['app'] },
    { name: 'latency_ms', instanceName: 'latency', kind: 'DISTRIBUTION', labelNames: ['app'], buckets: [10, 100] },
  ],
};

/** Two "processes": two connections to one Redis, two handlers with the same name and key prefix. */
describe('prometheus handler: state shared through Redis @redis', () => {
  let connA: Redis;
  let connB: Redis;
  let prefix: string;
  const open: TestHandler[] = [];

  before(() => {
    connA = connectRedis();
    connB = connectRedis();
  });
  after(async () => {
    await connA.quit();
    await connB.quit();
  });
  beforeEach(() => {
    prefix = randomPrefix();
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await deleteKeys(connA, prefix);
  });

  async function pair(params: unknown = PARAMS, roleB: 'serve' | 'worker' = 'serve'): Promise<[TestHandler, TestHandler]> {
    const a = await makeHandler(params, { redis: connA, keyPrefix: prefix });
    const b = await makeHandler(params, { redis: connB, keyPrefix: prefix, role: roleB });
    open.push(a, b);
    return [a, b];
  }

  it('two processes share totals and each renders them', async () => {
    const [a, b] = await pair();
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      const h = i % 2 === 0 ? a : b;
      jobs.push(
        h.handler.report([metric('default/requestcount', 1, { app: 'x' }), metric('default/latency', i * 10, { app: 'x' })], { jobId: `job-${i}`, attempt: 1 }),
      );
    }
    await Promise.all(jobs);
    for (const h of [a, b]) {
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="x"} 20']);
      // 0..190 step 10: ≤10 → 2, ≤100 → 11, all → 20; sum 1900.
      assert.deepEqual(linesOf(text, 'latency_ms_bucket'), [
        'latency_ms_bucket{app="x",le="10"} 2',
        'latency_ms_bucket{app="x",le="100"} 11',
        'latency_ms_bucket{app="x",le="+Inf"} 20',
      ]);
      assert.deepEqual(linesOf(text, 'latency_ms_sum'), ['latency_ms_sum{app="x"} 1900']);
    }
  });

  it('a job redelivered to another process counts once, even when both run it at the same time', async () => {
    const [a, b] = await pair();
    const batch = [metric('default/requestcount', 1, { app: 'x' })];
    await a.handler.report(batch, { jobId: 'j1', attempt: 1 });
    await b.handler.report(batch, { jobId: 'j1', attempt: 2 });
    await Promise.all([a.handler.report(batch, { jobId: 'j2', attempt: 1 }), b.handler.report(batch, { jobId: 'j2', attempt: 1 })]);
    assert.deepEqual(linesOf(await b.env.registry.metrics(), 'requests_total'), ['requests_total{app="x"} 2']);
  });

  it('a worker applies, a serve process renders', async () => {
    const [serve, worker] = await pair(PARAMS, 'worker');
    await worker.handler.report([metric('default/requestcount', 3, { app: 'w' })], { jobId: 'w1', attempt: 1 });
    assert.deepEqual(linesOf(await worker.env.registry.metrics(), 'requests_total'), []);
    assert.deepEqual(linesOf(await serve.env.registry.metrics(), 'requests_total'), ['requests_total{app="w"} 3']);
  });

  it('the cardinality cap is mesh-wide and its overflow counter lives in Redis', async () => {
    const [a, b] = await pair({ ...PARAMS, maxSeriesPerMetric: 2 });
    await a.handler.report([metric('default/requestcount', 1, { app: '1' }), metric('default/requestcount', 1, { app: '2' })], { jobId: 'k1', attempt: 1 });
    await b.handler.report([metric('default/requestcount', 1, { app: '3' }), metric('default/requestcount', 1, { app: '1' })], { jobId: 'k2', attempt: 1 });
    for (const h of [a, b]) {
      const text = await h.env.registry.metrics();
      assert.deepEqual(linesOf(text, 'requests_total'), ['requests_total{app="1"} 2', 'requests_total{app="2"} 1']);
      assert.deepEqual(linesOf(text, 'mixer_prometheus_series_overflow_total'), [
        'mixer_prometheus_series_overflow_total{metric="requests_total"} 1',
        'mixer_prometheus_series_overflow_total{metric="latency_ms"} 0',
      ]);
    }
  });

  it('keeps its keys under env.keyPrefix, as README.md lays them out, with TTLs', async () => {
    const [a] = await pair();
    await a.handler.report([metric('default/requestcount', 1, { app: 'x' }), metric('default/latency', 5, { app: 'x' })], { jobId: 'layout', attempt: 1 });
    const keys = await keysUnder(connA, prefix);
    const base = (m: string) => `${a.env.keyPrefix}{prom:${m}}:`;
    const ids = Object.fromEntries(a.handler.settings.metrics.map((m) => [m.name, m.schemaId]));
    assert.deepEqual(keys, [
      `${base('latency_ms')}jobs`,
      `${base('latency_ms')}m:${ids.latency_ms}:bytes`,
      `${base('latency_ms')}m:${ids.latency_ms}:seen`,
      `${base('latency_ms')}m:${ids.latency_ms}:v`,
      `${base('requests_total')}jobs`,
      `${base('requests_total')}m:${ids.requests_total}:bytes`,
      `${base('requests_total')}m:${ids.requests_total}:seen`,
      `${base('requests_total')}m:${ids.requests_total}:v`,
    ]);
    assert.deepEqual(await connA.hgetall(`${base('latency_ms')}m:${ids.latency_ms}:v`), { 'b0:["x"]': '1', 's:["x"]': '5', 'c:["x"]': '1' });
    for (const m of ['latency_ms', 'requests_total']) {
      const appliedAt = Number(await connA.zscore(`${base(m)}jobs`, 'layout'));
      assert.ok(Math.abs(appliedAt - Date.now()) < 60_000, `${m}: the job is recorded with when it was applied (${appliedAt})`);
    }
    // The set outlives its newest id by at least the marker lifetime (it is refreshed to twice that).
    const setTtl = await connA.ttl(`${base('requests_total')}jobs`);
    assert.ok(setTtl > JOB_MARKER_TTL_S && setTtl <= 2 * JOB_MARKER_TTL_S, `jobs set TTL ${setTtl}`);
    const seriesTtl = await connA.pttl(`${base('requests_total')}m:${ids.requests_total}:v`);
    assert.ok(seriesTtl > 0 && seriesTtl <= 600_000, `series TTL ${seriesTtl}`);
  });

  it('sweeps from several processes at once remove each idle series once', async () => {
    const params = { ...PARAMS, metricsExpirationPolicy: { metricsExpiryDuration: '300ms', expiryCheckIntervalDuration: '1h' } };
    const [a, b] = await pair(params);
    const both = (app: string) => [metric('default/requestcount', 1, { app }), metric('default/latency', 1, { app })];
    await a.handler.report(both('idle'), { jobId: 's0', attempt: 1 });
    let removed = 0;
    let n = 0;
    // The busy series keeps the keys alive (their TTL is the expiry), so only the sweeps can remove the idle one.
    // The counter and the histogram series are swept one metric after the other, so they may cross the expiry in
    // different rounds: keep sweeping until two removals were counted; a series removed twice would show as the
    // other idle series left behind below, or as a count of more than 2.
    await waitFor('the sweeps to remove both idle series', async () => {
      await b.handler.report(both('busy'), { jobId: `s${++n}`, attempt: 1 });
      const [x, y] = await Promise.all([a.handler.sweep(), b.handler.sweep()]);
      removed += x + y;
      return removed >= 2;
    });
    assert.equal(removed, 2, 'one counter series and one histogram series, each removed by one sweep');
    assert.deepEqual(await Promise.all([a.handler.sweep(), b.handler.sweep()]), [0, 0]);
    const text = await b.env.registry.metrics();
    assert.deepEqual(
      linesOf(text, 'latency_ms_count').map((l) => l.split(' ')[0]),
      ['latency_ms_count{app="busy"}'],
    );
    assert.deepEqual(
      linesOf(text, 'requests_total').map((l) => l.split(' ')[0]),
      ['requests_total{app="busy"}'],
    );
    const ids = Object.fromEntries(a.handler.settings.metrics.map((m) => [m.name, m.schemaId]));
    const fields = Object.keys(await connA.hgetall(`${a.env.keyPrefix}{prom:latency_ms}:m:${ids.latency_ms}:v`)).sort();
    assert.deepEqual(fields, ['b0:["busy"]', 'c:["busy"]', 's:["busy"]'], 'no field of the idle series is left');
  });

  it('keys of a handler idle for the whole expiry vanish by their TTL', async () => {
    const params = { ...PARAMS, metricsExpirationPolicy: { metricsExpiryDuration: '200ms', expiryCheckIntervalDuration: '1h' } };
    const [a] = await pair(params);
    await a.handler.report([metric('default/requestcount', 1, { app: 'x' })], { jobId: 't', attempt: 1 });
    await waitFor('the metric keys to expire', async () => (await keysUnder(connA, prefix)).every((k) => k.endsWith(':jobs')));
    assert.deepEqual(linesOf(await a.env.registry.metrics(), 'requests_total'), []);
  });

  it('a metric whose labels change starts afresh instead of misreading old series', async () => {
    const [a] = await pair();
    await a.handler.report([metric('default/requestcount', 5, { app: 'x', code: '200' })], { jobId: 'v1', attempt: 1 });
    const relabelled = { metrics: [{ ...PARAMS.metrics[0], labelNames: ['code', 'app'] }] };
    const c = await makeHandler(relabelled, { redis: connB, keyPrefix: prefix });
    open.push(c);
    await c.handler.report([metric('default/requestcount', 1, { app: 'x', code: '200' })], { jobId: 'v2', attempt: 1 });
    assert.deepEqual(linesOf(await c.env.registry.metrics(), 'requests_total'), ['requests_total{code="200",app="x"} 1']);
    assert.deepEqual(linesOf(await a.env.registry.metrics(), 'requests_total'), ['requests_total{app="x"} 5']);
  });

  it('when Redis cannot be reached, report() rejects with a retryable error and a scrape still answers', async () => {
    const down = connectRedis();
    await down.quit();
    const h = await makeHandler(PARAMS, { redis: down, keyPrefix: prefix });
    open.push(h);
    const err = await h.handler.report([metric('default/requestcount', 1, { app: 'x' })], { jobId: 'd', attempt: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error, 'report must reject');
    assert.equal(isPermanent(err), false);
    assert.deepEqual(linesOf(await h.env.registry.metrics(), 'requests_total'), []);
  });
});
