import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { PrometheusParams } from './config';
import type { PrometheusConfig } from './config';
import { PrometheusHandler } from './handler';
import { MemoryMetricStore } from './memory-store';
import { RedisMetricStore } from './redis-store';
import { resolvePrometheusConfig } from './settings';
import type { StoreOptions } from './store';

/** The namespace of a handler reference `namespace/name` (`default` when it has none). */
function namespaceOf(handlerName: string): string {
  const slash = handlerName.indexOf('/');
  return slash > 0 ? handlerName.slice(0, slash) : 'default';
}

/**
 * `prometheus`: turns `metric` instances into Prometheus counters, gauges and histograms whose
 * state lives in Redis (shared by every Mixer process; exactly once per job) or, without Redis,
 * in memory. `create` throws on params the schema cannot check (duplicate or clashing names,
 * reserved labels, buckets not ascending). See README.md.
 */
export const prometheusAdapter: AdapterFactory<PrometheusConfig> = {
  name: 'prometheus',
  description: 'Counters, gauges and histograms from metric instances, kept in Redis (or memory) and rendered on /metrics.',
  templates: ['metric'],
  configSchema: PrometheusParams,
  create(config: PrometheusConfig, env: AdapterEnv): PrometheusHandler {
    const settings = resolvePrometheusConfig(config, namespaceOf(env.handlerName));
    const opts: StoreOptions = { maxSeriesPerMetric: settings.maxSeriesPerMetric, expiryMs: settings.expiryMs };
    const store = env.redis ? new RedisMetricStore(env.redis, env.keyPrefix, opts, (key) => env.awaitReplicas(key)) : new MemoryMetricStore(opts);
    return new PrometheusHandler(settings, env, store);
  },
};
