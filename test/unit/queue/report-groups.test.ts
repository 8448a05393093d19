import { strict as assert } from 'node:assert';
import type { BagValues } from '../../../src/attributes/bag';
import { ReportGroups } from '../../../src/queue/report-groups';

/** One call of the `send` under test, answered when the test says so. */
interface Sent {
  bags: readonly BagValues[];
  handlers: readonly string[];
  ok(id: string): void;
  fail(err: Error): void;
}

function harness(maxInFlight = 1, maxBags = 10, maxWaitMs = 10_000, maxBytes = 1000) {
  const sent: Sent[] = [];
  const batches: number[] = [];
  const groups = new ReportGroups(
    (bags, handlers) =>
      new Promise<string>((resolve, reject) => {
        sent.push({ bags, handlers, ok: resolve, fail: reject });
      }),
    { maxInFlight, maxBags, maxBytes, maxWaitMs },
    (n) => batches.push(n),
  );
  return { groups, sent, batches };
}

const bags = (...ids: string[]): BagValues[] => ids.map((id) => ({ 'request.id': id }));
const ids = (b: readonly BagValues[]): unknown[] => b.map((x) => x['request.id']);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('queue/report-groups: group commit of report batches', () => {
  it('sends a report at once, alone, when nothing is in flight', async () => {
    const { groups, sent, batches } = harness();
    const p = groups.add(bags('a', 'b'), ['h'], 10);
    assert.equal(sent.length, 1);
    assert.deepEqual(ids(sent[0].bags), ['a', 'b']);
    sent[0].ok('id-1');
    assert.equal(await p, 'id-1');
    assert.deepEqual(batches, [1]);
  });

  it('groups the reports that arrive while a batch is in flight into the next one, in arrival order', async () => {
    const { groups, sent, batches } = harness();
    const first = groups.add(bags('a'), ['h'], 10);
    const later = [groups.add(bags('b'), ['h'], 10), groups.add(bags('c', 'd'), ['h'], 10), groups.add(bags('e'), ['h'], 10)];
    assert.equal(sent.length, 1, 'nothing more is sent while the first batch is in flight');
    sent[0].ok('id-1');
    await tick();
    assert.equal(sent.length, 2);
    assert.deepEqual(ids(sent[1].bags), ['b', 'c', 'd', 'e']);
    sent[1].ok('id-2');
    assert.equal(await first, 'id-1');
    assert.deepEqual(await Promise.all(later), ['id-2', 'id-2', 'id-2'], 'every caller of a group gets its batch id');
    assert.deepEqual(batches, [1, 3]);
  });

  it('keeps reports for different handlers apart, and a group to at most maxBags bags', async () => {
    const { groups, sent } = harness(1, 3);
    void groups.add(bags('first'), ['h'], 10);
    const p = [
      groups.add(bags('a', 'b'), ['h'], 10),
      groups.add(bags('x'), ['h', 'other'], 10),
      groups.add(bags('c', 'd'), ['h'], 10), // a + b + c + d would be 4 > 3 bags: a group of its own
      groups.add(bags('y'), ['h', 'other'], 10),
    ];
    sent[0].ok('0');
    await tick();
    // One in flight at a time: the waiting groups go in the order they were opened.
    for (let i = 1; i <= 3; i++) {
      assert.equal(sent.length, i + 1);
      sent[i].ok(String(i));
      await tick();
    }
    assert.deepEqual(
      sent.slice(1).map((s) => [s.handlers.join('+'), ids(s.bags)]),
      [
        ['h', ['a', 'b']],
        ['h+other', ['x', 'y']],
        ['h', ['c', 'd']],
      ],
    );
    assert.deepEqual(await Promise.all(p), ['1', '2', '3', '2']);
  });

  it('bounds a group by bytes as received too', async () => {
    const { groups, sent } = harness(1, 100, 10_000, 25);
    void groups.add(bags('first'), ['h'], 10);
    void groups.add(bags('a'), ['h'], 10);
    void groups.add(bags('b'), ['h'], 10);
    void groups.add(bags('c'), ['h'], 10); // 30 bytes with a and b: over 25, the next group
    sent[0].ok('0');
    await tick();
    assert.deepEqual(ids(sent[1].bags), ['a', 'b']);
    sent[1].ok('1');
    await tick();
    assert.deepEqual(ids(sent[2].bags), ['c']);
  });

  it('a report of unknown size is never grouped: it goes at once, even with a batch in flight', async () => {
    const { groups, sent, batches } = harness();
    void groups.add(bags('a'), ['h'], 10);
    void groups.add(bags('grpc'), ['h']);
    assert.equal(sent.length, 2);
    assert.deepEqual(ids(sent[1].bags), ['grpc']);
    assert.deepEqual(batches, [1, 1]);
  });

  it('a report larger than maxBags still goes, alone', async () => {
    const { groups, sent } = harness(1, 2);
    void groups.add(bags('first'), ['h'], 10);
    const big = groups.add(bags('a', 'b', 'c'), ['h'], 10);
    const small = groups.add(bags('d'), ['h'], 10);
    sent[0].ok('0');
    await tick();
    assert.deepEqual(ids(sent[1].bags), ['a', 'b', 'c']);
    sent[1].ok('1');
    await tick();
    assert.deepEqual(ids(sent[2].bags), ['d']);
    sent[2].ok('2');
    assert.deepEqual(await Promise.all([big, small]), ['1', '2']);
  });

  it('a batch that cannot be queued fails every caller in it; the next group still goes', async () => {
    const { groups, sent } = harness();
    const first = groups.add(bags('a'), ['h'], 10);
    const grouped = [groups.add(bags('b'), ['h'], 10), groups.add(bags('c'), ['h'], 10)];
    sent[0].fail(new Error('Redis away'));
    await assert.rejects(first, /Redis away/);
    await tick();
    const next = groups.add(bags('d'), ['h'], 10);
    sent[1].fail(new Error('still away'));
    for (const p of grouped) await assert.rejects(p, /still away/);
    await tick();
    assert.deepEqual(ids(sent[2].bags), ['d']);
    sent[2].ok('id-3');
    assert.equal(await next, 'id-3');
  });

  it('a report that waits longer than maxWaitMs leaves its group, answered QUEUE_UNAVAILABLE, and is not sent', async () => {
    const { groups, sent } = harness(1, 10, 30);
    void groups.add(bags('stuck'), ['h'], 10);
    const gaveUp = groups.add(bags('a'), ['h'], 10);
    await assert.rejects(gaveUp, (err: Error & { code?: string }) => err.code === 'MIXER_ERR_QUEUE_UNAVAILABLE' && /waited 30 ms/.test(err.message));
    const later = groups.add(bags('b'), ['h'], 10);
    sent[0].ok('0');
    await tick();
    assert.equal(sent.length, 2);
    assert.deepEqual(ids(sent[1].bags), ['b'], 'the report that gave up is not in the batch');
    sent[1].ok('1');
    assert.equal(await later, '1');
    await groups.idle();
  });

  it('idle() resolves once nothing is in flight or waiting', async () => {
    const { groups, sent } = harness();
    await groups.idle();
    void groups.add(bags('a'), ['h'], 10);
    void groups.add(bags('b'), ['h'], 10);
    let idle = false;
    const done = groups.idle().then(() => (idle = true));
    sent[0].ok('1');
    await tick();
    assert.equal(idle, false, 'the waiting report is still to be queued');
    sent[1].ok('2');
    await done;
    assert.equal(idle, true);
  });

  it('with maxInFlight 2, two batches go at once before reports wait', async () => {
    const { groups, sent } = harness(2);
    void groups.add(bags('a'), ['h'], 10);
    void groups.add(bags('b'), ['h'], 10);
    void groups.add(bags('c'), ['h'], 10);
    void groups.add(bags('d'), ['h'], 10);
    assert.equal(sent.length, 2);
    sent[1].ok('2');
    await tick();
    assert.deepEqual(ids(sent[2].bags), ['c', 'd']);
  });
});
