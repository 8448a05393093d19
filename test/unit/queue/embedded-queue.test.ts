import { strict as assert } from 'node:assert';
import { Counter, Registry } from 'prom-client';
import { EmbeddedQueue } from '../../../src/queue/embedded-queue';
import { MemoryDeadLetters } from '../../../src/queue/dead-letters';
import type { SnapshotSource } from '../../../src/queue/attempt';
import type { Snapshot } from '../../../src/runtime/snapshot';
import { ThrottledLog } from '../../../src/base/throttled-log';
import { silentLogger } from '../../../src/base/log';
import type { AdapterFactory } from '../../../src/sdk/adapter';
import { handlerDoc, ruleDoc, snapshotOf } from '../../support/snapshot';
import { waitFor } from '../../support/wait';

/** Counts the bags it receives; fails its first `failures` calls; `gate` holds every call until opened. */
const counting: AdapterFactory<{ failures?: number; permanent?: boolean }> & { bags: number; calls: number; gate?: Promise<void> } = {
  name: 'counting',
  templates: ['metric'],
  configSchema: { type: 'object' },
  bags: 0,
  calls: 0,
  create: (cfg) => ({
    report: async (instances) => {
      counting.calls++;
      if (counting.gate) await counting.gate;
      if (counting.calls <= (cfg.failures ?? 0)) throw Object.assign(new Error('sink down'), { permanent: cfg.permanent === true });
      counting.bags += instances.length;
    },
  }),
};

function source(snapshot: Snapshot): SnapshotSource {
  return { current: snapshot, onChange: () => () => undefined };
}

async function queueWith(params: object, delivery: Partial<{ attempts: number; backoffMs: number }> = {}, maxBatches?: number) {
  const snapshot = await snapshotOf(handlerDoc('h', 'counting', params) + ruleDoc('r', 'h', 'requests'), [counting]);
  const deadLetters = new MemoryDeadLetters();
  const queue = new EmbeddedQueue(
    {
      store: source(snapshot),
      deadLetters,
      delivery: {
        attempts: delivery.attempts ?? 3,
        backoffMs: delivery.backoffMs ?? 5,
        maxBackoffMs: 20,
        timeoutMs: 1000,
        concurrency: 2,
        removedHandlerGraceMs: 60_000,
      },
      retries: new Counter({ name: 'retries_test', help: 'h', labelNames: ['handler'], registers: [new Registry()] }),
      log: new ThrottledLog(silentLogger()),
      logger: silentLogger(),
    },
    maxBatches,
  );
  return { queue, deadLetters };
}

describe('queue/embedded-queue', () => {
  beforeEach(() => {
    counting.bags = 0;
    counting.calls = 0;
    counting.gate = undefined;
  });

  it('delivers every batch to its handler once workers start, and close drains what is queued', async () => {
    const { queue } = await queueWith({});
    for (let i = 0; i < 10; i++) await queue.enqueue([{}, {}, {}], ['default/h']);
    assert.equal(counting.calls, 0, 'nothing is delivered before startWorkers');
    queue.startWorkers();
    await queue.close();
    assert.equal(counting.bags, 30);
    await assert.rejects(queue.enqueue([{}], ['default/h']), /shutting down/);
  });

  it('retries a failing handler with backoff, then delivers: nothing lost, nothing twice', async () => {
    const { queue, deadLetters } = await queueWith({ failures: 2 });
    queue.startWorkers();
    await queue.enqueue([{}, {}], ['default/h']);
    await waitFor('the batch is delivered after two failures', () => counting.bags === 2);
    assert.equal(counting.calls, 3);
    assert.deepEqual(await deadLetters.counts(), {});
    await queue.close();
  });

  it('dead-letters a batch after its last attempt (or at once when permanent), and replay delivers it', async () => {
    const { queue, deadLetters } = await queueWith({ failures: 1, permanent: true });
    queue.startWorkers();
    await queue.enqueue([{}], ['default/h']);
    await waitFor('one dead letter', async () => (await deadLetters.counts())['default/h'] === 1);
    assert.equal(counting.calls, 1, 'a permanent error is not retried');
    const [dl] = (await queue.deadLetterPage('default/h', { limit: 10 })).items;
    assert.ok(dl.permanent && dl.attempts === 1 && dl.error === 'sink down');
    assert.equal(await queue.replay('default/h'), 1);
    await waitFor('the replayed batch is delivered', () => counting.bags === 1);
    assert.equal((await deadLetters.counts())['default/h'] ?? 0, 0);
    await queue.close();
  });

  it('answers 503-style MIXER_ERR_QUEUE_UNAVAILABLE when full, and takes work again once drained', async () => {
    let open!: () => void;
    counting.gate = new Promise<void>((r) => (open = r));
    const { queue } = await queueWith({}, {}, 4);
    queue.startWorkers();
    for (let i = 0; i < 4; i++) await queue.enqueue([{}], ['default/h']);
    await assert.rejects(
      queue.enqueue([{}], ['default/h']),
      (e: Error & { code?: string }) => e.code === 'MIXER_ERR_QUEUE_UNAVAILABLE' && /full/.test(e.message),
    );
    open();
    await waitFor('the held batches are delivered', () => counting.bags === 4);
    await queue.enqueue([{}], ['default/h']);
    await queue.close();
    assert.equal(counting.bags, 5);
  });
});
