import { strict as assert } from 'node:assert';
import { Engine } from 'json-rules-engine';
import type { TopLevelCondition } from 'json-rules-engine';
import { Bag, TrackingReader } from '../../../src/attributes/bag';
import type { BagValues } from '../../../src/attributes/bag';
import type { ValueType } from '../../../src/attributes/types';
import { compileCondition, pathKey, validateCondition } from '../../../src/conditions/condition';
import type { Condition } from '../../../src/conditions/condition';
import { OPERATOR_NAMES } from '../../../src/conditions/operators';

type Outcome = boolean | 'error';
type Facts = Record<string, unknown>;

/** What json-rules-engine decides: did the rule's event fire? ('error' when run() rejects). */
async function engineSays(cond: unknown, facts: Facts): Promise<Outcome> {
  try {
    const engine = new Engine([], { allowUndefinedFacts: true });
    engine.addRule({ conditions: cond as TopLevelCondition, event: { type: 'hit' } });
    const { events } = await engine.run(facts);
    return events.length === 1;
  } catch {
    return 'error';
  }
}

// `s` and `arr` are declared STRING so a path on them exercises the engine's "path on a
// non-object yields the value" rule; `arr` carries arrays (no attribute type is one) for `contains`.
const VOCAB = new Map<string, ValueType>([
  ['s', 'STRING'],
  ['n', 'INT64'],
  ['b', 'BOOL'],
  ['m', 'STRING_MAP'],
  ['arr', 'STRING'],
  ['nope', 'STRING'],
]);

function compiledSays(cond: unknown, facts: Facts): Outcome {
  try {
    return compileCondition(cond as Condition, VOCAB)(Bag.trusted(facts as BagValues));
  } catch {
    return 'error';
  }
}

/** Runs every (condition, bag) pair through both and returns the disagreements. */
async function differ(conds: unknown[], bags: Facts[]): Promise<string[]> {
  const bad: string[] = [];
  for (const cond of conds) {
    for (const facts of bags) {
      const [want, got] = [await engineSays(cond, facts), compiledSays(cond, facts)];
      if (want !== got) bad.push(`${JSON.stringify(cond)} on ${JSON.stringify(facts)}: engine ${want}, compiled ${got}`);
    }
  }
  return bad;
}

// Maps are type-correct or absent in every bag (a path needs a map; see the report on that edge).
const BAGS: Facts[] = [
  {},
  { s: 'a', n: 5, b: true, m: { app: 'a', v: '5' }, arr: ['a', 'b'] },
  { s: '5', n: 10, b: false, m: { app: 'abc' }, arr: [5] },
  { s: 'abc', n: 0, m: {}, arr: [] },
  { s: 5, n: '5', b: 'true', arr: 'a' },
  { s: '10', n: -1, b: 1, m: { app: '5', v: '10', zz: 'x' } },
  { s: true, n: '10', arr: [null, 'a', '5'] },
  { s: '', n: 5.5, m: { app: '' }, arr: 'abc' },
];

const LEFT: Facts[] = [
  { fact: 's' },
  { fact: 'n' },
  { fact: 'b' },
  { fact: 'arr' },
  { fact: 'm' },
  { fact: 'nope' },
  { fact: 'm', path: '$.app' },
  { fact: 'm', path: "$['v']" },
  { fact: 'm', path: '$["zz"]' },
  { fact: 's', path: '$.app' },
];
const VALUES: unknown[] = [
  'a',
  'abc',
  '5',
  '10',
  '',
  5,
  10,
  0,
  -1,
  5.5,
  true,
  false,
  null,
  ['a', 'b'],
  ['5', 5],
  [null, 'a'],
  [],
  [true, 10],
  ['q1', 'q2', 'q3', 'q4', 'q5', 'a', 5, '10', null, true, -1, ''], // long enough for the Set path
  { fact: 's' },
  { fact: 'n' },
  { fact: 'm', path: '$.app' },
  { fact: 'nope' },
  { fact: 'arr' },
  { fact: 'm' },
];

describe('conditions/condition: differential corpus against json-rules-engine', function () {
  this.timeout(120_000);

  for (const operator of OPERATOR_NAMES) {
    it(`${operator}: every fact shape × value × bag agrees`, async () => {
      const conds = LEFT.flatMap((l) => VALUES.map((value) => ({ all: [{ ...l, operator, value }] })));
      assert.equal(conds.length, LEFT.length * VALUES.length);
      assert.deepEqual(await differ(conds, BAGS), []);
    });
  }

  // Leaves that never make the engine throw, to nest freely.
  const SAFE_LEAVES: Facts[] = [
    { fact: 's', operator: 'equal', value: 'a' },
    { fact: 'n', operator: 'lessThan', value: 6 },
    { fact: 'n', operator: 'greaterThanInclusive', value: { fact: 's' } },
    { fact: 'b', operator: 'notEqual', value: true },
    { fact: 'm', path: '$.app', operator: 'in', value: ['a', 'abc', null] },
    { fact: 'nope', operator: 'notIn', value: ['x'] },
    { fact: 'arr', operator: 'contains', value: 'a' },
    { fact: 'arr', operator: 'doesNotContain', value: 5 },
    { fact: 'm', path: '$.v', operator: 'equal', value: { fact: 's' } },
    { fact: 'n', operator: 'equal', value: { fact: 'nope' } },
  ];

  it('random all/any/not trees up to 3 levels, with priorities and empty lists, agree', async () => {
    let seed = 12345;
    const rnd = (k: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % k;
    };
    const tree = (depth: number): Facts => {
      const pick = depth === 0 ? 0 : rnd(5);
      if (pick <= 1) return { ...SAFE_LEAVES[rnd(SAFE_LEAVES.length)], ...(rnd(4) === 0 ? { priority: 1 + rnd(3) } : {}) };
      if (pick === 2) return { not: tree(depth - 1) };
      const kids = Array.from({ length: rnd(4) }, () => tree(depth - 1));
      return { [pick === 3 ? 'all' : 'any']: kids, ...(rnd(3) === 0 ? { priority: 1 + rnd(3) } : {}) };
    };
    const conds: Facts[] = [];
    while (conds.length < 300) {
      const t = tree(3);
      if (!('fact' in t)) conds.push(t);
    }
    assert.ok(
      conds.some((c) => JSON.stringify(c).includes('"any":[]')),
      'corpus has an empty any',
    );
    assert.ok(
      conds.some((c) => /"not":\{"(all|any)"/.test(JSON.stringify(c))),
      'corpus has not over a list',
    );
    assert.deepEqual(await differ(conds, BAGS), []);
  });

  it('pins the semantics users rely on (hand-written; each checked against the engine too)', async () => {
    const c = (fact: string, operator: string, value: unknown, path?: string): Facts => ({ all: [{ fact, operator, value, ...(path ? { path } : {}) }] });
    const cases: Array<[string, unknown, Facts, boolean]> = [
      ['equal on a missing fact is false', c('s', 'equal', 'a'), {}, false],
      ['notEqual on a missing fact is true', c('s', 'notEqual', 'a'), {}, true],
      ['notIn on a missing fact is true', c('s', 'notIn', ['a']), {}, true],
      ['in on a missing fact is false', c('s', 'in', ['a']), {}, false],
      ['doesNotContain on a missing fact is false (needs an array)', c('arr', 'doesNotContain', 'a'), {}, false],
      ['doesNotContain on a string is false', c('arr', 'doesNotContain', 'z'), { arr: 'abc' }, false],
      ['lessThan on a missing fact is false', c('n', 'lessThan', 10), {}, false],
      ['greaterThanInclusive on a missing fact is false', c('n', 'greaterThanInclusive', -1), {}, false],
      ['"5" lessThan 10 coerces: true', c('n', 'lessThan', 10), { n: '5' }, true],
      ['"5" lessThan "10" compares text: false', c('n', 'lessThan', '10'), { n: '5' }, false],
      ['true lessThan 10 fails the validator', c('n', 'lessThan', 10), { n: true }, false],
      ['equal is type-exact: 1 vs "1"', c('n', 'equal', '1'), { n: 1 }, false],
      ['in is type-exact', c('n', 'in', ['5']), { n: 5 }, false],
      ['in with null item does not find a missing fact', c('n', 'in', [null]), {}, false],
      ['in with a string value searches characters', c('s', 'in', 'frontend'), { s: 'end' }, true],
      ['path present', c('m', 'equal', 'a', '$.app'), { m: { app: 'a' } }, true],
      ['path on a missing key', c('m', 'notEqual', 'a', "$['app']"), { m: {} }, true],
      ['path on a missing map', c('m', 'equal', 'a', '$["app"]'), {}, false],
      ['path on a non-map compares the whole value', c('s', 'equal', 'a', '$.app'), { s: 'a' }, true],
      ['fact vs fact, both missing, are equal', c('s', 'equal', { fact: 'nope' }), {}, true],
      ['fact vs fact through a path', c('s', 'equal', { fact: 'm', path: '$.app' }), { s: 'x', m: { app: 'x' } }, true],
      ['booleans', c('b', 'equal', false), { b: false }, true],
      ['empty all is true', { all: [] }, {}, true],
      ['empty any is true', { any: [] }, {}, true],
      ['not of empty any is false', { not: { any: [] } }, {}, false],
      ['three levels', { any: [{ not: { all: [c('s', 'equal', 'x'), { any: [c('n', 'lessThan', 3)] }] } }] }, { s: 'x', n: 1 }, false],
    ];
    for (const [name, cond, facts, want] of cases) {
      assert.equal(await engineSays(cond, facts), want, `engine: ${name}`);
      assert.equal(compiledSays(cond, facts), want, `compiled: ${name}`);
    }
  });

  it('supported path forms read the same key as jsonpath-plus, for random keys', async () => {
    let seed = 99;
    const chars = 'aZ09_-./ ';
    const conds: unknown[] = [];
    const bags: Facts[] = [];
    for (let i = 0; conds.length < 150; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      let key = '';
      for (let j = 0, len = 1 + (seed % 5); j < len; j++) key += chars[(seed >>> (3 * j + 4)) % chars.length];
      const path = [`$.${key}`, `$['${key}']`, `$["${key}"]`][i % 3];
      if (pathKey(path) !== key) continue;
      conds.push({ all: [{ fact: 'm', path, operator: 'equal', value: 'V' }] });
      bags.push({ m: { [key]: 'V', a: 'A', '.': 'D' } });
    }
    const bad: string[] = [];
    for (let i = 0; i < conds.length; i++) bad.push(...(await differ([conds[i]], [bags[i], { m: { a: 'V' } }])));
    assert.deepEqual(bad, []);
    for (const p of ['$..app', '$.a.b', "$['..']", "$['a,b']", '$.*', "$['*']", "$['$']", '$[0]', '$', 'app', "$['it\\'s']"]) {
      assert.equal(pathKey(p), undefined, p);
    }
  });
});

describe('conditions/condition: reads', () => {
  const cond = {
    all: [
      { fact: 'destination.service.name', operator: 'equal', value: 'backend' },
      { fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' },
      {
        any: [
          { fact: 'request.size', operator: 'lessThan', value: 10 },
          { fact: 'source.labels', path: "$['version']", operator: 'notEqual', value: 'v1' },
        ],
      },
    ],
  } as TopLevelCondition;
  const pred = compileCondition(cond);

  it('records exactly what was read, with EXACT/ABSENCE and map keys', () => {
    const r = new TrackingReader(Bag.trusted({ 'destination.service.name': 'backend', 'source.labels': { app: 'frontend' } }));
    assert.equal(pred(r), true);
    assert.deepEqual(r.referenced(), [
      { name: 'destination.service.name', condition: 'EXACT' },
      { name: 'source.labels', key: 'app', condition: 'EXACT' },
      { name: 'request.size', condition: 'ABSENCE' },
      { name: 'source.labels', key: 'version', condition: 'ABSENCE' },
    ]);
  });

  it('stops reading once the result is known', () => {
    const r = new TrackingReader(Bag.trusted({ 'destination.service.name': 'other', 'source.labels': { app: 'frontend' } }));
    assert.equal(pred(r), false);
    assert.deepEqual(r.referenced(), [{ name: 'destination.service.name', condition: 'EXACT' }]);
  });
});

describe('conditions/condition: validateCondition', () => {
  const vocab = new Map<string, ValueType>([
    ['source.labels', 'STRING_MAP'],
    ['destination.service.name', 'STRING'],
    ['response.code', 'INT64'],
    ['connection.mtls', 'BOOL'],
    ['response.duration', 'DURATION'],
  ]);
  const ok = { fact: 'destination.service.name', operator: 'equal', value: 'backend' };
  const all = (...c: unknown[]): unknown => ({ all: c });
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not an object', 'x', 'm', /must be an object/],
    ['a list member that is not an object', all(ok, 3), 'm.all[1]', /must be an object/],
    ['undeclared fact', all(ok, ok, { ...ok, fact: 'nope' }), 'm.all[2].fact', /`nope` is not a declared attribute/],
    ['missing fact', all({ operator: 'equal', value: 1 }), 'm.all[0].fact', /required/],
    ['unknown operator', all({ ...ok, operator: 'equals' }), 'm.all[0].operator', /unknown operator "equals"/],
    ['decorated operator', all({ ...ok, operator: 'not:equal' }), 'm.all[0].operator', /unknown operator/],
    ['missing operator', all({ fact: 'response.code', value: 1 }), 'm.all[0].operator', /required/],
    ['missing value', all({ fact: 'response.code', operator: 'equal' }), 'm.all[0].value', /value is required/],
    ['path on a non-map', all({ ...ok, path: '$.app' }), 'm.all[0].path', /STRING_MAP.*STRING/],
    ['recursive path', all({ ...ok, fact: 'source.labels', path: '$..app' }), 'm.all[0].path', /unsupported path/],
    ['nested path', all({ ...ok, fact: 'source.labels', path: '$.a.b' }), 'm.all[0].path', /unsupported path/],
    ['union path', all({ ...ok, fact: 'source.labels', path: "$['a,b']" }), 'm.all[0].path', /unsupported path/],
    ['shared condition', { any: [ok, { condition: 'shared' }] }, 'm.any[1].condition', /not supported/],
    ['undeclared fact in value', all({ ...ok, value: { fact: 'nope' } }), 'm.all[0].value.fact', /`nope` is not a declared/],
    ['path on a non-map in value', all({ ...ok, value: { fact: 'response.code', path: '$.x' } }), 'm.all[0].value.path', /STRING_MAP/],
    ['in with a string', all({ ...ok, operator: 'in', value: 'backend' }), 'm.all[0].value', /literal list/],
    ['notIn with a fact', all({ ...ok, operator: 'notIn', value: { fact: 'destination.service.name' } }), 'm.all[0].value', /literal list/],
    ['in with a wrong-typed item', all({ fact: 'response.code', operator: 'in', value: [200, '404'] }), 'm.all[0].value[1]', /not a number/],
    ['all not a list', { all: ok }, 'm.all', /must be a list/],
    ['not given a list', { not: [ok] }, 'm.not', /one condition/],
    ['two boolean operators', { all: [ok], any: [ok] }, 'm', /one of all, any .*use only `any`/],
    ['a fact field beside all', { all: [ok], fact: 'x' }, 'm.fact', /unexpected field beside `all`/],
    ['bare fact condition at the root', ok, 'm', /root must be/],
    ['contains', all({ ...ok, operator: 'contains' }), 'm.all[0].operator', /always false/],
    ['numeric with a string', all({ fact: 'response.code', operator: 'lessThan', value: '500' }), 'm.all[0].value', /needs a number/],
    ['numeric on a bool', all({ fact: 'connection.mtls', operator: 'greaterThan', value: 0 }), 'm.all[0].operator', /needs a number/],
    ['equal with a mistyped value', all({ fact: 'response.code', operator: 'equal', value: '200' }), 'm.all[0].value', /a number; "200"/],
    ['equal on a whole map', all({ fact: 'source.labels', operator: 'equal', value: 'x' }), 'm.all[0].path', /whole map/],
    ['equal with a list', all({ ...ok, value: ['backend'] }), 'm.all[0].value', /use `in`/],
    ['equal with an object', all({ ...ok, value: { fakt: 'x' } }), 'm.all[0].value', /fact reference/],
    ['fact vs fact of other types', all({ ...ok, value: { fact: 'response.code' } }), 'm.all[0].value', /never equal/],
    ['params', all({ ...ok, params: { a: 1 } }), 'm.all[0].params', /params/],
    ['typo in a key', all({ ...ok, pth: '$.x' }), 'm.all[0].pth', /unexpected field/],
    ['bad priority', { all: [ok], priority: 0 }, 'm.priority', /priority/],
    ['deep nesting', all({ any: [ok, { not: { ...ok, fact: 'nope' } }] }), 'm.all[0].any[1].not.fact', /not a declared/],
  ];
  for (const [name, cond, field, reason] of cases) {
    it(`${name} → ${field}`, () => {
      const details = validateCondition(cond, vocab, 'm');
      assert.ok(
        details.some((d) => d.field === field && reason.test(d.reason)),
        JSON.stringify(details),
      );
    });
  }

  it('collects every problem, not just the first', () => {
    const details = validateCondition(all({ ...ok, fact: 'nope' }, { ...ok, operator: 'eq' }, { not: { condition: 'c' } }), vocab, 'm');
    assert.deepEqual(
      details.map((d) => d.field),
      ['m.all[0].fact', 'm.all[1].operator', 'm.all[2].not.condition'],
    );
  });

  it('accepts good conditions, which then compile, and json-rules-engine runs them too', async () => {
    const good: unknown[] = [
      all(ok, { fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' }),
      { any: [{ fact: 'source.labels', path: "$['app.kubernetes.io/name']", operator: 'in', value: ['a', 'b'] }, { not: ok }] },
      { not: { all: [{ fact: 'response.code', operator: 'greaterThanInclusive', value: 500, priority: 2 }] }, name: 'errors' },
      all({ fact: 'response.duration', operator: 'lessThan', value: { fact: 'response.code' } }, { fact: 'connection.mtls', operator: 'equal', value: true }),
      all({ fact: 'destination.service.name', operator: 'equal', value: { fact: 'source.labels', path: '$["app"]' } }),
      { all: [] },
    ];
    for (const cond of good) {
      assert.deepEqual(validateCondition(cond, vocab, 'm'), [], JSON.stringify(cond));
      assert.equal(typeof compileCondition(cond as Condition, vocab)(Bag.trusted({})), 'boolean');
      assert.notEqual(await engineSays(cond, {}), 'error', JSON.stringify(cond));
    }
  });
});
