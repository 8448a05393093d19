import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { adapterInventory } from '../../adapters/index';
import { createApp } from '../api/http/app';
import { createHttpServer } from '../api/http/server';
import { SelfMetrics } from '../metrics/self-metrics';
import { ConfigStore } from './config-store';
import { ThrottledLog } from './throttled-log';
import type { Settings } from './settings';

/** A running `mixer serve`. */
export interface RunningMixer {
  readonly port: number;
  readonly store: ConfigStore;
  readonly metrics: SelfMetrics;
  /** Stops accepting, drains requests in flight, closes handlers and connections. Safe twice. */
  close(): Promise<void>;
}

/** Connects to Redis and keeps `mixer_redis_up` current; never throws for an unreachable server. */
export function connectRedis(url: string, logger: Logger, metrics: SelfMetrics): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let up = false;
  redis.on('ready', () => {
    up = true;
    metrics.redisUp.set(1);
    logger.info({ redis: url.replace(/\/\/[^@]*@/, '//***@') }, 'redis connected');
  });
  redis.on('close', () => {
    if (up) logger.warn('redis connection lost; checks keep serving, reconnecting');
    up = false;
    metrics.redisUp.set(0);
  });
  redis.on('error', () => {
    /* logged through 'close'; ioredis retries by itself */
  });
  return redis;
}

/** Starts the API (check now; report, config API and workers in later layers) on one port. */
export async function startMixer(settings: Settings, logger: Logger): Promise<RunningMixer> {
  const metrics = new SelfMetrics();
  metrics.redisUp.set(0);
  const redis = settings.redisUrl ? connectRedis(settings.redisUrl, logger, metrics) : undefined;
  if (!redis) logger.warn('REDIS_URL is not set: embedded in-process queue; reports answered 202 are held in memory (shutdown drains them, a crash loses them)');
  const store = new ConfigStore({ dir: settings.configDir, adapters: adapterInventory(), logger, metrics, redis, keyPrefix: settings.keyPrefix, drainMs: settings.adapterTimeoutMs * 2 + 1000 });
  try {
    await store.start();
  } catch (err) {
    await store.close();
    redis?.disconnect();
    throw err;
  }
  store.watch();
  const app = createApp({ store, metrics, redisState: () => (!redis ? 'not configured' : redis.status === 'ready' ? 'up' : 'down') });
  const server: Server = createHttpServer(app, {
    store,
    metrics,
    log: new ThrottledLog(logger),
    limits: { maxAttributes: settings.maxAttributes, maxBodyBytes: settings.maxBodyBytes },
    adapterTimeoutMs: settings.adapterTimeoutMs,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, configDir: settings.configDir, generation: store.status.generation }, 'mixer serving');
  let closing: Promise<void> | undefined;
  return {
    port,
    store,
    metrics,
    close: () =>
      (closing ??= (async () => {
        logger.info('shutting down: draining requests in flight');
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 10_000);
        await closed;
        clearTimeout(force);
        await store.close();
        if (redis) await redis.quit().catch(() => redis.disconnect());
        logger.info('stopped');
      })()),
  };
}
