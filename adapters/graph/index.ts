import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { GraphParams, resolveGraphConfig } from './config';
import type { GraphConfig } from './config';
import { GraphHandler } from './handler';

/** `graph`: the service dependency graph (Kiali-style JSON or DOT on `GET /v1/graph`) from `edge` instances. See README.md. */
export const graphAdapter: AdapterFactory<GraphConfig> = {
  name: 'graph',
  description: 'Service dependency graph over 1m/5m/1h windows from edge instances; served on GET /v1/graph as Kiali-style JSON or DOT.',
  templates: ['edge'],
  configSchema: GraphParams,
  /** Uses `env.redis` when set (counts shared by all replicas), else memory. Never waits for Redis. */
  create(config: GraphConfig, env: AdapterEnv): GraphHandler {
    return new GraphHandler(resolveGraphConfig(config), env);
  },
};
