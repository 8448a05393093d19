import type { Redis } from 'ioredis';
import { prometheusAdapter } from '../../../../adapters/prometheus';
import { runAdapterConformance } from '../../../../src/sdk/conformance';
import { connectRedis, deleteKeys, metric, randomPrefix } from './helpers';

const validParams = {
  metrics: [
    { name: 'requests_total', instanceName: 'requestcount', kind: 'COUNTER', labelNames: ['app'] },
    {
      name: 'latency_ms',
      instanceName: 'latency',
      kind: 'DISTRIBUTION',
      labelNames: ['app'],
      buckets: { exponentialBuckets: { numFiniteBuckets: 5, growthFactor: 2, scale: 1 } },
    },
  ],
  metricsExpirationPolicy: { metricsExpiryDuration: '1m', expiryCheckIntervalDuration: '10s' },
};
const invalidParams = [
  { metrics: [{ name: 'bad-name', instanceName: 'i', kind: 'COUNTER' }] },
  { metrics: [{ name: 'x', instanceName: 'i', kind: 'HISTOGRAM' }] },
  { metrics: [{ name: 'x', instanceName: 'i', kind: 'COUNTER', labelNames: ['a b'] }] },
  { metricsExpirationPolicy: { metricsExpiryDuration: 'ten minutes' } },
  { maxSeriesPerMetric: -1 },
  { metric: [] },
];
const batch = [metric('default/requestcount', 1, { app: 'a' }), metric('default/latency', 3, { app: 'a' })];

// Embedded mode: state in memory.
runAdapterConformance(prometheusAdapter, {
  validParams,
  invalidParams,
  use: (h) => h.report!(batch, { jobId: 'conformance-use', attempt: 1 }),
});

// With Redis: state in Redis, every env under one prefix that is deleted after.
describe('prometheus conformance with Redis @redis', () => {
  const base = randomPrefix();
  let redis: Redis;
  let n = 0;
  before(() => {
    redis = connectRedis();
  });
  after(async () => {
    await deleteKeys(redis, base);
    await redis.quit();
  });
  runAdapterConformance(prometheusAdapter, {
    validParams,
    envOptions: () => ({ redis, keyPrefix: `${base}${++n}:` }),
    use: (h) => h.report!(batch, { jobId: 'conformance-use', attempt: 1 }),
  });
});

// Redis unreachable: a report fails retryably (the core retries; nothing was applied). The
// instances are in the conformance handlers' namespace, so they feed the metrics (a batch that
// feeds none has nothing to write and succeeds without Redis).
const fedBatch = [metric('conformance/requestcount', 1, { app: 'a' }), metric('conformance/latency', 3, { app: 'a' })];
describe('prometheus conformance with Redis down', () => {
  let down: Redis;
  before(async () => {
    down = connectRedis();
    await down.quit();
  });
  runAdapterConformance(prometheusAdapter, {
    validParams,
    envOptions: () => ({ redis: down, keyPrefix: randomPrefix() }),
    retryableReport: { instances: fedBatch },
  });
});
