import { strict as assert } from 'node:assert';
import { silentLogger } from '../../../../src/base/log';
import { ReportBatcher } from '../../../../src/mesh/sidecar/report-batcher';
import { ReportError } from '../../../../src/mesh/sidecar/mixer-calls';
import { waitFor } from '../../../support/wait';

describe('mesh/sidecar/report-batcher', () => {
  it('sends 100 bags at once, and a partial batch after flushMs', async () => {
    const batches: number[] = [];
    const b = new ReportBatcher({ send: async (bags) => void batches.push(bags.length), logger: silentLogger(), flushMs: 50 });
    for (let i = 0; i < 250; i++) b.add({ i });
    await waitFor('two full batches', () => batches.length >= 2);
    assert.deepEqual(batches.slice(0, 2), [100, 100]);
    await waitFor('the rest after the timer', () => batches.length === 3, 2000);
    assert.deepEqual(batches, [100, 100, 50]);
    assert.equal(b.stats.sent, 250);
    await b.close();
  });

  it('never blocks add; retries retryable failures; drops permanent ones and overflow, counting them', async () => {
    let fail = 2;
    const sent: unknown[][] = [];
    const b = new ReportBatcher({
      send: async (texts) => {
        const bags = texts.map((t) => JSON.parse(t) as { bad?: boolean });
        if (bags[0].bad) throw new ReportError('400', false);
        if (fail-- > 0) throw new ReportError('503', true);
        sent.push(bags);
      },
      logger: silentLogger(),
      maxBatch: 2,
      maxPending: 5,
    });
    b.add({ n: 1 });
    b.add({ n: 2 });
    await waitFor('the retried batch', () => sent.length === 1, 5000);
    b.add({ bad: true });
    b.add({ bad: true });
    await waitFor('the permanent failure dropped', () => b.stats.dropped === 2, 2000);
    await b.close();
    assert.equal(b.stats.sent, 2);
    assert.deepEqual(sent, [[{ n: 1 }, { n: 2 }]]);
  });
});
