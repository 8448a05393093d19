import assert from 'node:assert/strict';
import { prometheusAdapter } from '../../../../adapters/prometheus';
import type { PrometheusConfig } from '../../../../adapters/prometheus/config';
import { DEFAULT_BUCKETS, PrometheusConfigError, checkPrometheusConfig } from '../../../../adapters/prometheus/settings';
import type { PrometheusSettings } from '../../../../adapters/prometheus/settings';
import type { ErrorDetail } from '../../../../src/base/errors';
import { createAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';

const counter = (name: string, extra: Record<string, unknown> = {}) => ({ name, instanceName: 'requestcount', kind: 'COUNTER', ...extra });
const histo = (name: string, buckets?: unknown, extra: Record<string, unknown> = {}) => ({
  name,
  instanceName: 'ns/latency',
  kind: 'DISTRIBUTION',
  ...(buckets === undefined ? {} : { buckets }),
  ...extra,
});

/** Schema validation (with defaults), then the checks the schema cannot express. */
function check(params: unknown, namespace = 'default'): { schemaErrors: ErrorDetail[]; errors: ErrorDetail[]; settings?: PrometheusSettings } {
  const r = validateParams(prometheusAdapter, params, 'params');
  if (r.errors.length > 0) return { schemaErrors: r.errors, errors: [] };
  return { schemaErrors: [], ...checkPrometheusConfig(r.config as PrometheusConfig, namespace) };
}

describe('prometheus params', () => {
  it('fills the defaults: expiry 10m checked every 1m, 10000 series per metric, Prometheus default buckets', () => {
    const { settings, errors } = check({ metrics: [counter('a_total'), histo('b')] });
    assert.deepEqual(errors, []);
    assert.equal(settings!.expiryMs, 600_000);
    assert.equal(settings!.expiryCheckIntervalMs, 60_000);
    assert.equal(settings!.maxSeriesPerMetric, 10_000);
    assert.deepEqual(settings!.metrics[1].buckets, DEFAULT_BUCKETS);
    assert.deepEqual(settings!.metrics[0].labelNames, []);
    assert.deepEqual(settings!.metrics[0].buckets, []);
  });

  it('resolves instance names: namespace/name as is, a short name in the handler namespace', () => {
    const { settings } = check({ metrics: [counter('a_total'), histo('b')] }, 'istio-system');
    assert.deepEqual(
      settings!.metrics.map((m) => m.instance),
      ['istio-system/requestcount', 'ns/latency'],
    );
  });

  it('computes explicit, shorthand, linear and exponential buckets', () => {
    const { settings, errors } = check({
      metrics: [
        histo('explicit', { explicitBuckets: { bounds: [0.5, 1, 5] } }),
        histo('shorthand', [1, 10, 100]),
        histo('linear', { linearBuckets: { numFiniteBuckets: 4, width: 10, offset: 5 } }),
        histo('linear0', { linearBuckets: { numFiniteBuckets: 2, width: 3 } }),
        histo('expo', { exponentialBuckets: { numFiniteBuckets: 4, growthFactor: 10, scale: 0.1 } }),
      ],
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(
      settings!.metrics.map((m) => m.buckets.map((b) => Number(b.toPrecision(12)))),
      [
        [0.5, 1, 5],
        [1, 10, 100],
        [5, 15, 25, 35],
        [0, 3],
        [0.1, 1, 10, 100],
      ],
    );
  });

  it('rejects bounds that are not strictly ascending, and buckets on a non-DISTRIBUTION', () => {
    const { errors } = check({ metrics: [histo('h', [1, 5, 5]), histo('g', { explicitBuckets: { bounds: [10, 1] } }), counter('c_total', { buckets: [1] })] });
    assert.deepEqual(
      errors.map((e) => e.field),
      ['params.metrics[0].buckets', 'params.metrics[1].buckets', 'params.metrics[2].buckets'],
    );
    assert.match(errors[0].reason, /strictly ascending: 5 then 5/);
    assert.match(errors[2].reason, /only to DISTRIBUTION/);
  });

  it('rejects duplicate names, names clashing with a histogram series or with the adapter own metrics', () => {
    const { errors } = check({
      metrics: [counter('a_total'), counter('a_total'), histo('lat'), counter('lat_count'), counter('mixer_prometheus_dropped_total')],
    });
    assert.deepEqual(
      errors.map((e) => e.field),
      ['params.metrics[1].name', 'params.metrics[3].name', 'params.metrics[4].name'],
    );
    assert.match(errors[0].reason, /a_total is already used by metrics\[0\]/);
    assert.match(errors[1].reason, /lat_count is already used by metrics\[2\]/);
  });

  it('rejects reserved, duplicate and histogram-bucket label names', () => {
    const { errors } = check({
      metrics: [
        counter('a_total', { labelNames: ['__x', 'app', 'app'] }),
        histo('h', undefined, { labelNames: ['le'] }),
        counter('b_total', { labelNames: ['le'] }),
      ],
    });
    assert.deepEqual(
      errors.map((e) => e.field),
      ['params.metrics[0].labelNames[0]', 'params.metrics[0].labelNames[2]', 'params.metrics[1].labelNames[0]'],
    );
  });

  it('the schema rejects invalid metric and label names, unknown kinds and fields, bad buckets and durations', () => {
    const bad: unknown[] = [
      { metrics: [counter('1bad')] },
      { metrics: [counter('bad-name')] },
      { metrics: [counter('ok', { labelNames: ['bad-label'] })] },
      { metrics: [{ name: 'x', instanceName: 'i', kind: 'SUMMARY' }] },
      { metrics: [{ name: 'x', kind: 'COUNTER' }] },
      { metrics: [counter('x', { namespace: 'istio' })] },
      { metrics: [histo('h', { linearBuckets: { numFiniteBuckets: 0, width: 1 } })] },
      { metrics: [histo('h', { exponentialBuckets: { numFiniteBuckets: 3, growthFactor: 1, scale: 1 } })] },
      { metrics: [histo('h', { explicitBuckets: { bounds: [] } })] },
      { metrics: [histo('h', { explicitBuckets: { bounds: [1] }, linearBuckets: { numFiniteBuckets: 1, width: 1 } })] },
      { metricsExpirationPolicy: { metricsExpiryDuration: 'soon' } },
      { maxSeriesPerMetric: 0 },
    ];
    for (const params of bad) assert.ok(check(params).schemaErrors.length > 0, `should reject ${JSON.stringify(params)}`);
  });

  it('"0s" expiry never expires (no sweep timer); a zero check interval is rejected when metrics expire', () => {
    const never = check({ metrics: [counter('a_total')], metricsExpirationPolicy: { metricsExpiryDuration: '0s', expiryCheckIntervalDuration: '0s' } });
    assert.deepEqual(never.errors, []);
    assert.equal(never.settings!.expiryMs, 0);
    const spin = check({ metrics: [counter('a_total')], metricsExpirationPolicy: { metricsExpiryDuration: '1m', expiryCheckIntervalDuration: '0s' } });
    assert.deepEqual(
      spin.errors.map((e) => e.field),
      ['params.metricsExpirationPolicy.expiryCheckIntervalDuration'],
    );
  });

  it('create() throws a PrometheusConfigError listing every problem', () => {
    const r = validateParams(prometheusAdapter, { metrics: [counter('a_total'), counter('a_total'), histo('h', [2, 1])] }, 'params');
    assert.deepEqual(r.errors, []);
    const owned = createAdapterEnv({ handlerName: 'default/prometheus' });
    assert.throws(
      () => prometheusAdapter.create(r.config as PrometheusConfig, owned.env),
      (err: unknown) => err instanceof PrometheusConfigError && err.details.length === 2 && /metrics\[1\]\.name/.test(err.message),
    );
    owned.dispose();
  });
});
