import type { Logger } from 'pino';
import type { SelfMetrics } from '../metrics/self-metrics';
import type { ConfigStore } from '../runtime/config-store';
import { ThrottledLog } from '../base/throttled-log';
import { BullmqQueue } from '../queue/bullmq-queue';
import { EmbeddedQueue } from '../queue/embedded-queue';
import { MemoryDeadLetters } from '../queue/dead-letters';
import { DEFAULT_DELIVERY } from '../queue/report-queue';
import type { DeliveryOptions, ReportQueue } from '../queue/report-queue';
import type { Settings } from './settings';

/** The report queue for these settings: BullMQ when `REDIS_URL` is set, the embedded queue otherwise. */
export function createReportQueue(settings: Settings, store: ConfigStore, metrics: SelfMetrics, logger: Logger): ReportQueue {
  const delivery: DeliveryOptions = { ...DEFAULT_DELIVERY, ...settings.delivery };
  const deps = { store, delivery, retries: metrics.queueRetries, log: new ThrottledLog(logger), logger };
  const queue: ReportQueue = settings.redisUrl
    ? new BullmqQueue(settings.redisUrl, settings.keyPrefix, deps)
    : new EmbeddedQueue({ ...deps, deadLetters: new MemoryDeadLetters() });
  metrics.observeQueue(queue as unknown as Parameters<SelfMetrics['observeQueue']>[0]);
  return queue;
}
