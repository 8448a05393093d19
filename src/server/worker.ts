import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SelfMetrics } from '../metrics/self-metrics';
import { renderMetrics } from '../metrics/render';
import type { ReportQueue } from '../queue/report-queue';
import { connectMixerRedis, startConfig } from './mixer';
import { createReportQueue } from './queue-factory';
import type { ConfigStore } from '../runtime/config-store';
import type { Settings } from './settings';

/** A running `mixer worker`. */
export interface RunningWorker {
  /** Port of the worker's own /metrics, /healthz, /readyz. */
  readonly metricsPort: number;
  readonly store: ConfigStore;
  readonly queue: ReportQueue;
  close(): Promise<void>;
}

/**
 * Starts `mixer worker`: report workers only, against the Redis queue (Redis is required),
 * with `mixer_*` self-metrics on MIXER_METRICS_PORT.
 */
export async function startWorker(settings: Settings, logger: Logger): Promise<RunningWorker> {
  if (!settings.redis)
    throw new Error('mixer worker needs Redis (REDIS_URL, MIXER_REDIS_CLUSTER or MIXER_REDIS_SENTINELS): without Redis the queue lives inside `mixer serve`');
  const metrics = new SelfMetrics();
  metrics.redisUp.set(0);
  const redis = connectMixerRedis(settings.redis, logger, metrics);
  const store = await startConfig(settings, logger, metrics, redis, 'worker');
  const queue = createReportQueue(settings, store, metrics, logger);
  queue.startWorkers();

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (path === '/readyz') {
      const ready = store.ready && queue.consuming;
      const body = JSON.stringify({
        ready,
        configGeneration: store.status.generation,
        redis: redis.status === 'ready' ? 'up' : 'down',
        consuming: queue.consuming,
      });
      return void res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(body);
    }
    if (path === '/metrics') {
      void (async () => {
        const text = await renderMetrics(
          metrics.registry,
          [...store.current.handlers.values()].map((h) => h.registry),
        );
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      })().catch(() => res.writeHead(500).end());
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"MIXER_ERR_NOT_FOUND","message":"not found","details":[]}}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.metricsPort, settings.host, () => resolve());
  });
  const metricsPort = (server.address() as AddressInfo).port;
  logger.info({ metricsPort, configDir: settings.configDir, handlers: store.current.reportHandlers }, 'mixer worker running');
  let closing: Promise<void> | undefined;
  return {
    metricsPort,
    store,
    queue,
    close: () =>
      (closing ??= (async () => {
        logger.info('shutting down: finishing report work in hand');
        await queue.close();
        server.close();
        server.closeAllConnections();
        await store.close();
        await redis.quit().catch(() => redis.disconnect());
        logger.info('stopped');
      })()),
  };
}
