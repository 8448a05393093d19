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

/** The report queue for these settings: BullMQ when Redis is set (any mode), the embedded queue otherwise. */
export function createReportQueue(settings: Settings, store: ConfigStore, metrics: SelfMetrics, logger: Logger): ReportQueue {
  const delivery: DeliveryOptions = { ...DEFAULT_DELIVERY, ...settings.delivery };
  const log = new ThrottledLog(logger);
  const deps = { store, delivery, retries: metrics.queueRetries, log, logger };
  const onDeadLetterDrop = (handler: string, reason: string, n: number): void => {
    metrics.deadLettersDropped.inc({ handler, reason }, n);
    log.warn(`dlq-drop:${handler}:${reason}`, { handler, reason, dropped: n, limits: settings.deadLetters }, 'dead letters dropped (cap or TTL)');
  };
  const queue: ReportQueue = settings.redis
    ? new BullmqQueue(settings.redis, settings.keyPrefix, {
        ...deps,
        deadLetterLimits: settings.deadLetters,
        onDeadLetterDrop,
        discarded: metrics.queueDiscarded,
        shards: settings.queueShards,
        onUnreplicated: () => metrics.redisUnreplicated.inc({ what: 'report' }),
        onBatch: (reports) => metrics.queueReportsPerBatch.observe(reports),
        reportLimits: { maxBags: settings.maxBags, maxBytes: settings.maxBodyBytes },
      })
    : new EmbeddedQueue({ ...deps, deadLetters: new MemoryDeadLetters(settings.deadLetters, onDeadLetterDrop), discarded: metrics.queueDiscarded });
  metrics.observeQueue(queue as unknown as Parameters<SelfMetrics['observeQueue']>[0]);
  return queue;
}
