import { strict as assert } from 'node:assert';
import { Bag, TrackingReader } from '../../../src/attributes/bag';
import type { BagValues } from '../../../src/attributes/bag';
import type { AttributeReader } from '../../../src/attributes/types';
import { alwaysTrue, compileCondition } from '../../../src/conditions/condition';
import type { Condition, Predicate } from '../../../src/conditions/condition';
import { RuleIndex } from '../../../src/conditions/rule-index';
import type { IndexedRule } from '../../../src/conditions/rule-index';

/** A small seeded PRNG (an LCG): same seed, same rules and bags. */
function prng(seed: number): { int(k: number): number; pick<T>(xs: readonly T[]): T } {
  let s = seed >>> 0;
  const int = (k: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % k;
  };
  return { int, pick: (xs) => xs[int(xs.length)] };
}

function rule(ordinal: number, match?: unknown): IndexedRule<number> {
  return { match, predicate: match == null ? alwaysTrue : compileCondition(match as Condition), payload: ordinal };
}

const linear = (rules: readonly IndexedRule<number>[], facts: AttributeReader): number[] => rules.filter((r) => r.predicate(facts)).map((r) => r.payload);

const bag = (values: Record<string, unknown>): Bag => Bag.trusted(values as BagValues);

/** Counts predicate calls, to show which rules select() evaluated. */
function counted(rules: IndexedRule<number>[]): { rules: IndexedRule<number>[]; calls: () => number } {
  let n = 0;
  const wrap =
    (p: Predicate): Predicate =>
    (f) => (n++, p(f));
  return { rules: rules.map((r) => ({ ...r, predicate: wrap(r.predicate) })), calls: () => n };
}

describe('conditions/rule-index', () => {
  // Small value domains so rules collide; 1 and "1" both appear to catch type-loose lookups.
  const DOMAIN: Record<string, readonly unknown[]> = {
    dest: ['a', 'b', 'c', '1', 1],
    code: [1, 2, 200, '1', '200'],
    flag: [true, false, 'true'],
  };
  const LABELS = ['x', 'y', '1'];

  function randomLeaf(r: ReturnType<typeof prng>): Record<string, unknown> {
    const kind = r.int(10);
    if (kind < 5) {
      const fact = r.pick(Object.keys(DOMAIN));
      return { fact, operator: 'equal', value: r.pick(DOMAIN[fact]) };
    }
    if (kind < 7) return { fact: 'labels', path: r.pick(['$.app', "$['app']", '$["version"]']), operator: 'equal', value: r.pick(LABELS) };
    if (kind === 7) return { fact: 'dest', operator: r.pick(['notEqual', 'in', 'notIn']), value: r.int(2) ? ['a', 1] : 'b' };
    if (kind === 8) return { fact: 'code', operator: r.pick(['lessThan', 'greaterThanInclusive']), value: r.pick([2, 100]) };
    return { fact: 'dest', operator: 'equal', value: { fact: 'labels', path: '$.app' } };
  }

  function randomMatch(r: ReturnType<typeof prng>): unknown {
    const leaves = (k: number): unknown[] => Array.from({ length: k }, () => randomLeaf(r));
    switch (r.int(9)) {
      case 0:
        return undefined;
      case 1:
        return null;
      case 2:
        return randomLeaf(r);
      case 3:
        return { any: leaves(1 + r.int(3)) };
      case 4:
        return { not: randomLeaf(r) };
      case 5:
        return { all: [...leaves(r.int(3)), { all: leaves(1 + r.int(2)) }] };
      case 6:
        return { all: [...leaves(1 + r.int(2)), { any: leaves(2) }], ...(r.int(2) ? { any: leaves(1) } : {}) };
      default:
        return { all: leaves(r.int(5)) };
    }
  }

  function randomBag(r: ReturnType<typeof prng>): Bag {
    const v: Record<string, unknown> = {};
    for (const fact of Object.keys(DOMAIN)) if (r.int(5) > 0) v[fact] = r.pick(DOMAIN[fact]);
    if (r.int(4) > 0) {
      const labels: Record<string, string> = {};
      if (r.int(4) > 0) labels.app = r.pick(LABELS);
      if (r.int(2) > 0) labels.version = r.pick(LABELS);
      v.labels = labels;
    }
    return bag(v);
  }

  it('selects exactly what a linear scan selects, in order, on randomized rules and bags', () => {
    const r = prng(20240601);
    let indexed = 0;
    let scanned = 0;
    let matched = 0;
    for (let set = 0; set < 300; set++) {
      const rules = Array.from({ length: 1 + r.int(40) }, (_, i) => rule(i, randomMatch(r)));
      const index = new RuleIndex(rules);
      indexed += index.stats().indexed;
      scanned += index.stats().scanned;
      for (let b = 0; b < 40; b++) {
        const facts = randomBag(r);
        const want = linear(rules, facts);
        matched += want.length;
        assert.deepEqual(index.select(facts), want, `set ${set}, bag ${JSON.stringify(facts)}`);
      }
    }
    // The corpus exercises both paths and finds matches (so agreement is not vacuous).
    assert.ok(indexed > 1000 && scanned > 1000 && matched > 10_000, `${indexed} ${scanned} ${matched}`);
  });

  it('keeps the original order across buckets and the scan list', () => {
    const eq = (fact: string, value: unknown): unknown => ({ all: [{ fact, operator: 'equal', value }] });
    const rules = [
      rule(0, eq('dest', 'a')),
      rule(1),
      rule(2, eq('code', 200)),
      rule(3, { any: [{ fact: 'dest', operator: 'equal', value: 'a' }] }),
      rule(4, eq('dest', 'a')),
      rule(5, eq('code', 200)),
    ];
    assert.deepEqual(new RuleIndex(rules).select(bag({ dest: 'a', code: 200 })), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(new RuleIndex(rules).select(bag({ dest: 'b', code: 200 })), [1, 2, 5]);
  });

  it('scans rules without match and rules with no required equality; indexes a bare fact condition', () => {
    const rules = [
      rule(0),
      rule(1, null),
      rule(2, {
        any: [
          { fact: 'dest', operator: 'equal', value: 'a' },
          { fact: 'dest', operator: 'equal', value: 'b' },
        ],
      }),
      rule(3, { not: { fact: 'dest', operator: 'equal', value: 'a' } }),
      rule(4, {
        all: [
          { fact: 'dest', operator: 'equal', value: { fact: 'other' } },
          { fact: 'code', operator: 'lessThan', value: 3 },
        ],
      }),
      rule(5, { all: [{ fact: 'dest', operator: 'equal', value: 'a' }], any: [{ fact: 'code', operator: 'equal', value: 1 }] }),
      rule(6, { fact: 'dest', operator: 'equal', value: 'a' }),
      rule(7, { all: [{ all: [{ fact: 'labels', path: '$.app', operator: 'equal', value: 'x' }] }] }),
    ];
    const stats = new RuleIndex(rules).stats();
    assert.deepEqual(stats, { rules: 8, indexed: 2, scanned: 6, keys: [{ fact: 'dest' }, { fact: 'labels', key: 'app' }] });
  });

  it('looks values up type-exactly (1, "1" and true are different keys)', () => {
    const eq = (value: unknown): unknown => ({ all: [{ fact: 'code', operator: 'equal', value }] });
    const rules = [rule(0, eq(1)), rule(1, eq('1')), rule(2, eq(true)), rule(3, eq('true'))];
    const index = new RuleIndex(rules);
    assert.equal(index.stats().scanned, 0);
    assert.deepEqual(index.select(bag({ code: 1 })), [0]);
    assert.deepEqual(index.select(bag({ code: '1' })), [1]);
    assert.deepEqual(index.select(bag({ code: true })), [2]);
    assert.deepEqual(index.select(bag({ code: 'true' })), [3]);
    assert.deepEqual(index.select(bag({ code: { 1: '1' } })), []);
    // A near miss is not even a candidate: the lookup itself is type-exact.
    const { rules: only, calls } = counted([rule(0, eq('1')), rule(1, eq(true))]);
    const strict = new RuleIndex(only);
    assert.deepEqual([strict.select(bag({ code: 1 })), strict.select(bag({ code: 'true' }))], [[], []]);
    assert.equal(calls(), 0);
  });

  it('reads each index key once through the reader, so it is referenced even when nothing matches', () => {
    const rules = [
      rule(0, { all: [{ fact: 'dest', operator: 'equal', value: 'a' }] }),
      rule(1, {
        all: [
          { fact: 'labels', path: '$.app', operator: 'equal', value: 'x' },
          { fact: 'code', operator: 'equal', value: 2 },
        ],
      }),
    ];
    const r = new TrackingReader(bag({ dest: 'b', labels: {} }));
    assert.deepEqual(new RuleIndex(rules).select(r), []);
    assert.deepEqual(r.referenced(), [
      { name: 'dest', condition: 'EXACT' },
      { name: 'labels', key: 'app', condition: 'ABSENCE' },
    ]);
  });

  describe('cost does not grow with rule count', () => {
    const many = (extra: (i: number) => unknown[]): IndexedRule<number>[] =>
      Array.from({ length: 1000 }, (_, i) =>
        rule(i, {
          all: [
            ...extra(i),
            { fact: 'destination.service.name', operator: 'equal', value: `svc-${i}` },
            { fact: 'source.labels', path: '$.app', operator: 'equal', value: `app-${i}` },
          ],
        }),
      );

    it('1,000 rules on distinct values: one predicate evaluated per select, none on a miss', () => {
      const { rules, calls } = counted(many(() => []));
      const index = new RuleIndex(rules);
      assert.equal(index.stats().keys.length, 2, 'bucketed by the service pair');
      assert.deepEqual(index.select(bag({ 'destination.service.name': 'svc-537', 'source.labels': { app: 'app-537' } })), [537]);
      assert.equal(calls(), 1);
      assert.deepEqual(index.select(bag({ 'destination.service.name': 'svc-537', 'source.labels': { app: 'app-1' } })), []);
      assert.equal(calls(), 1, 'a pair no rule has costs no predicate');
      assert.deepEqual(index.select(bag({ 'destination.service.name': 'nowhere' })), []);
      assert.equal(calls(), 1);
    });

    it('prefers the selective equality over one that every rule shares', () => {
      const { rules, calls } = counted(many(() => [{ fact: 'context.reporter.kind', operator: 'equal', value: 'inbound' }]));
      const index = new RuleIndex(rules);
      const facts = bag({ 'context.reporter.kind': 'inbound', 'destination.service.name': 'svc-9', 'source.labels': { app: 'app-9' } });
      assert.deepEqual(index.select(facts), [9]);
      assert.equal(calls(), 1);
      assert.deepEqual(
        [...index.stats().keys].sort((a, b) => a.fact.localeCompare(b.fact)),
        [{ fact: 'destination.service.name' }, { fact: 'source.labels', key: 'app' }],
        'the key every rule shares is not used',
      );
    });
  });
});
