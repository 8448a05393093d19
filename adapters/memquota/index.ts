import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { MemQuotaParams, resolveMemQuotaConfig } from './config';
import type { MemQuotaConfig } from './config';
import { MemQuotaHandler } from './handler';

/** `memquota`: fixed-window quotas kept in this process's memory (Istio 1.4's memquota). See README.md. */
export const memquotaAdapter: AdapterFactory<MemQuotaConfig> = {
  name: 'memquota',
  description: 'Fixed-window quotas per dimension set, in process memory (one Mixer replica; use redisquota for several).',
  templates: ['quota'],
  configSchema: MemQuotaParams,
  /** Throws for duplicate quota names. */
  create(config: MemQuotaConfig, env: AdapterEnv): MemQuotaHandler {
    return new MemQuotaHandler(resolveMemQuotaConfig(config), env);
  },
};
