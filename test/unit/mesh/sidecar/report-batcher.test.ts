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

  /** A send like Mixer's: 413 for a body over `limit` bytes. */
  function mixerLike(limit: number, delivered: string[], bodies: number[]) {
    return (bags: readonly string[]): Promise<void> => {
      const size = `{"attributes":[${bags.join(',')}]}`.length;
      if (size > limit) return Promise.reject(new ReportError('report answered HTTP 413', false, 413));
      bodies.push(size);
      delivered.push(...bags);
      return Promise.resolve();
    };
  }
  const bigBag = (i: number): string => JSON.stringify({ i, 'request.headers': { 'x-big': 'x'.repeat(15_000) } });
  const smallBag = (i: number): string => JSON.stringify({ i });

  it('splits batches by bytes: 70 bags with 15 KB headers and 30 small ones all arrive, no body over the cap', async () => {
    const delivered: string[] = [];
    const bodies: number[] = [];
    const b = new ReportBatcher({ send: mixerLike(1 << 20, delivered, bodies), logger: silentLogger(), flushMs: 20, maxBatchBytes: 256 * 1024 });
    for (let i = 0; i < 100; i++) b.addJson(i % 10 < 7 ? bigBag(i) : smallBag(i));
    await waitFor('every bag delivered', () => delivered.length === 100, 5000);
    await b.close();
    assert.ok(Math.max(...bodies) <= 256 * 1024 + 64, `bodies ${bodies.join(', ')}`);
    assert.deepEqual(b.stats, { sent: 100, dropped: 0, failedBatches: 0, splitBatches: 0, headersCut: 0 });
  });

  it('a batch answered 413 is split and sent again until it fits; only a bag too large alone is dropped', async () => {
    const delivered: string[] = [];
    const b = new ReportBatcher({ send: mixerLike(1 << 20, delivered, []), logger: silentLogger(), flushMs: 20, maxBatchBytes: 64 << 20 });
    const huge = JSON.stringify({ huge: 'h'.repeat(1.5 * (1 << 20)) });
    for (let i = 0; i < 100; i++) b.addJson(i === 50 ? huge : i % 10 < 7 ? bigBag(i) : smallBag(i));
    await waitFor('the 99 that fit delivered', () => delivered.length === 99, 5000);
    await waitFor('the huge one dropped', () => b.stats.dropped === 1, 5000);
    await b.close();
    assert.equal(new Set(delivered).size, 99, 'each once');
    assert.ok(!delivered.includes(huge));
    assert.ok(b.stats.splitBatches >= 2);
  });
});
