import { Counter, Registry } from 'prom-client';
import { BullmqQueue } from '../../src/queue/bullmq-queue';
import type { BullmqQueueDeps } from '../../src/queue/bullmq-queue';
import type { SnapshotSource } from '../../src/queue/attempt';
import { ThrottledLog } from '../../src/base/throttled-log';
import { silentLogger } from '../../src/base/log';
import type { AdapterFactory } from '../../src/sdk/adapter';
import { handlerDoc, ruleDoc, snapshotOf } from './snapshot';
import { waitFor } from './wait';

/** Takes reports and does nothing. */
const sink: AdapterFactory = { name: 'sink', templates: ['metric'], configSchema: { type: 'object' }, create: () => ({ report: () => undefined }) };

/**
 * A Redis queue (BullMQ) on the server at `url` under `prefix`, for a config with one report handler
 * `h` (a sink), once it reaches Redis. No worker runs until the test starts them, so what is queued
 * stays in Redis to be looked at. `extra` adds queue options (shards, onBatch...).
 */
export async function sinkQueue(url: string, prefix: string, extra: Partial<BullmqQueueDeps> = {}): Promise<BullmqQueue> {
  const snapshot = await snapshotOf(handlerDoc('h', 'sink', {}) + ruleDoc('r', 'h', 'requests'), [sink]);
  const store: SnapshotSource = { current: snapshot, onChange: () => () => undefined };
  const queue = new BullmqQueue({ target: { mode: 'server', url } }, prefix, {
    store,
    delivery: { attempts: 3, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 1000, concurrency: 2, removedHandlerGraceMs: 60_000 },
    retries: new Counter({ name: 'retries_sink_queue', help: 'h', labelNames: ['handler'], registers: [new Registry()] }),
    log: new ThrottledLog(silentLogger()),
    logger: silentLogger(),
    reportLimits: { maxBags: 1000, maxBytes: 1024 * 1024 },
    ...extra,
  });
  // The producer fails fast until it is connected (so /v1/report can answer 503): wait for it.
  await waitFor('the queue to reach Redis', async () => (await queue.depth()) !== undefined);
  return queue;
}
