import { strict as assert } from 'node:assert';
import { Counter, Histogram, Registry } from 'prom-client';
import { BatchedHistogram, BufferedCounter } from '../../../src/metrics/buffered';

/** A small deterministic generator, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const LABELS = ['handler', 'result'] as const;

/**
 * A scrape's samples as a set: series may come in another order (the buffered counter creates a
 * series when it folds its counts in), which Prometheus does not mind; every value must match.
 */
async function samples(reg: Registry): Promise<string[]> {
  return (await reg.metrics()).split('\n').sort();
}
const HANDLERS = ['deny', 'list', 'quota'];
const RESULTS = ['ok', 'error'];

describe('metrics/buffered: the same figures as prom-client counting at once', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`BufferedCounter, random counts, reads, resets and removals (seed ${seed})`, async () => {
      const rand = rng(seed);
      const [plainReg, bufReg] = [new Registry(), new Registry()];
      const plain = new Counter({ name: 'c', help: 'h', labelNames: LABELS, registers: [plainReg] });
      const buffered = new BufferedCounter({ name: 'c', help: 'h', labelNames: LABELS, registers: [bufReg] });
      for (let i = 0; i < 2000; i++) {
        const h = HANDLERS[Math.floor(rand() * 3)];
        const r = RESULTS[Math.floor(rand() * 2)];
        const op = rand();
        if (op < 0.6) {
          plain.labels(h, r).inc();
          buffered.labels(h, r).inc();
        } else if (op < 0.8) {
          const by = Math.floor(rand() * 5);
          plain.labels(h, r).inc(by);
          buffered.labels(h, r).inc(by);
        } else if (op < 0.85) {
          plain.inc({ handler: h, result: r });
          buffered.inc({ handler: h, result: r });
        } else if (op < 0.95) {
          assert.deepEqual(await samples(bufReg), await samples(plainReg), `scrape ${i}`);
        } else if (op < 0.98) {
          plain.remove(h, r);
          buffered.remove(h, r);
        } else {
          plain.reset();
          buffered.reset();
        }
      }
      assert.deepEqual(await samples(bufReg), await samples(plainReg));
      const byLabels = (m: Awaited<ReturnType<typeof plain.get>>) =>
        [...m.values].sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
      assert.deepEqual(byLabels(await buffered.get()), byLabels(await plain.get()));
    });
  }

  it('BufferedCounter rejects what prom-client rejects', () => {
    const c = new BufferedCounter({ name: 'c', help: 'h', labelNames: LABELS, registers: [] });
    assert.throws(() => c.labels('deny', 'ok').inc(-1), /not possible to decrease a counter/);
  });

  for (const seed of [7, 8, 9]) {
    it(`BatchedHistogram, observations across event-loop turns and reads (seed ${seed})`, async () => {
      const rand = rng(seed);
      const [plainReg, bufReg] = [new Registry(), new Registry()];
      const buckets = [0.001, 0.01, 0.1, 1];
      const plain = new Histogram({ name: 'h', help: 'h', labelNames: ['handler'], buckets, registers: [plainReg] });
      const batched = new BatchedHistogram({ name: 'h', help: 'h', labelNames: ['handler'], buckets, registers: [bufReg] });
      const bare = new Histogram({ name: 'u', help: 'h', buckets, registers: [plainReg] });
      const bareBatched = new BatchedHistogram({ name: 'u', help: 'h', buckets, registers: [bufReg] });
      for (let i = 0; i < 3000; i++) {
        const v = rand() < 0.1 ? 0 : rand() ** 3 * 2;
        const h = HANDLERS[Math.floor(rand() * 3)];
        const op = rand();
        if (op < 0.5) {
          plain.labels(h).observe(v);
          batched.labels(h).observe(v);
        } else if (op < 0.8) {
          bare.observe(v);
          bareBatched.observe(v);
        } else if (op < 0.85) {
          plain.observe({ handler: h }, v);
          batched.observe({ handler: h }, v);
        } else if (op < 0.9) {
          await new Promise((r) => setImmediate(r));
        } else if (op < 0.97) {
          assert.equal(await bufReg.metrics(), await plainReg.metrics(), `scrape ${i}`);
        } else {
          plain.remove(h);
          batched.remove(h);
        }
      }
      assert.equal(await bufReg.metrics(), await plainReg.metrics());
    });
  }

  it('BatchedHistogram applies at most 512 waiting observations late, and all of them by the next turn', async () => {
    const reg = new Registry();
    const h = new BatchedHistogram({ name: 'h', help: 'h', buckets: [1], registers: [reg] });
    for (let i = 0; i < 600; i++) h.observe(0.5);
    const internal = h as unknown as { values: number[] };
    assert.ok(internal.values.length < 512, 'a full queue is applied on the spot');
    await new Promise((r) => setImmediate(r));
    assert.equal(internal.values.length, 0);
    assert.match(await reg.metrics(), /^h_count 600$/m);
  });
});
