import { connectRedis } from '../../src/sdk';
import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { RedisQuotaParams, resolveRedisQuotaConfig } from './config';
import type { RedisQuotaConfig } from './config';
import { RedisQuotaHandler } from './handler';

/** At most one connection-error log line per this many ms. */
const ERROR_LOG_EVERY_MS = 60_000;

/** `redisquota`: FIXED_WINDOW / ROLLING_WINDOW quotas in Redis, shared by every replica (Istio 1.4's redisquota). */
export const redisquotaAdapter: AdapterFactory<RedisQuotaConfig> = {
  name: 'redisquota',
  description: 'Fixed or rolling window quotas kept in Redis, so all Mixer replicas share one limit.',
  templates: ['quota'],
  configSchema: RedisQuotaParams,
  /**
   * Uses `params.redisServerUrl` (a connection of its own, closed by `close()`), else `env.redis`.
   * Throws when neither is available. An own connection is opened by the first quota call (so a
   * handler that is never used never connects); quotas reject while Redis cannot be reached.
   */
  async create(config: RedisQuotaConfig, env: AdapterEnv): Promise<RedisQuotaHandler> {
    const settings = resolveRedisQuotaConfig(config);
    if (settings.redisServerUrl !== undefined) {
      const redis = connectRedis({ target: { mode: 'server', url: settings.redisServerUrl } }, 'lazy', { enableAutoPipelining: true });
      let lastLog = -Infinity;
      redis.on('error', (err: Error) => {
        const now = Date.now();
        if (now - lastLog < ERROR_LOG_EVERY_MS) return;
        lastLog = now;
        env.logger.warn({ err: err.message }, 'redisquota: Redis connection error');
      });
      return new RedisQuotaHandler(settings, env, redis, true);
    }
    if (env.redis) return new RedisQuotaHandler(settings, env, env.redis, false);
    throw new Error('redisquota needs Redis: set params.redisServerUrl, or run Mixer with Redis (REDIS_URL, MIXER_REDIS_CLUSTER or MIXER_REDIS_SENTINELS)');
  },
};
