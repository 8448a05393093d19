import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import type { TSchema } from '@sinclair/typebox';
import { GoDuration, StringEnum, deepFreeze, validateParams } from '../../../src/sdk/params';
import type { AdapterFactory } from '../../../src/sdk/adapter';

function factoryOf(schema: object, name = 'test'): AdapterFactory {
  return { name, templates: ['checknothing'], configSchema: schema, create: () => ({}) };
}

const Sample = Type.Object(
  {
    mode: Type.Optional(StringEnum(['A', 'B'] as const, { default: 'A' })),
    window: Type.Optional(GoDuration({ default: '5s' })),
    limits: Type.Array(
      Type.Object(
        { name: Type.String(), max: Type.Integer({ minimum: 0 }), tags: Type.Optional(Type.Array(Type.String(), { default: [] })) },
        { additionalProperties: false },
      ),
    ),
    nested: Type.Optional(Type.Object({ level: Type.Optional(Type.Integer({ default: 3 })) }, { additionalProperties: false, default: {} })),
  },
  { additionalProperties: false },
);

describe('sdk/params validateParams', () => {
  const factory = factoryOf(Sample);

  it('applies defaults, including inside defaulted objects and array items', () => {
    const r = validateParams(factory, { limits: [{ name: 'a', max: 1 }] }, 'p');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config, { mode: 'A', window: '5s', limits: [{ name: 'a', max: 1, tags: [] }], nested: { level: 3 } });
  });

  it('never modifies the input and deep-freezes the result', () => {
    const input = { limits: [{ name: 'a', max: 1 }] };
    const r = validateParams(factory, input, 'p');
    assert.deepEqual(input, { limits: [{ name: 'a', max: 1 }] });
    const config = r.config as { limits: Array<{ tags: string[] }>; nested: object };
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.limits) && Object.isFrozen(config.limits[0]));
    assert.ok(Object.isFrozen(config.limits[0].tags) && Object.isFrozen(config.nested));
    assert.throws(() => config.limits[0].tags.push('x'), TypeError);
  });

  it('reports every problem with its path and a readable reason', () => {
    const r = validateParams(
      factory,
      {
        mode: 'C',
        window: '5 s',
        limits: [
          { name: 'a', max: 1 },
          { max: -1, colour: 'red' },
        ],
        extra: 1,
      },
      'rules/q.yaml:4 spec.params',
    );
    assert.equal(r.config, undefined);
    const byField = new Map(r.errors.map((e) => [e.field, e.reason]));
    assert.equal(byField.get('rules/q.yaml:4 spec.params.mode'), 'must be one of: A, B');
    assert.match(byField.get('rules/q.yaml:4 spec.params.window') ?? '', /must be a duration/);
    assert.equal(byField.get('rules/q.yaml:4 spec.params.limits[1].name'), 'is required');
    assert.equal(byField.get('rules/q.yaml:4 spec.params.limits[1].max'), 'must be >= 0');
    assert.match(byField.get('rules/q.yaml:4 spec.params.limits[1].colour') ?? '', /unknown property "colour" \(allowed: name, max, tags\)/);
    assert.match(byField.get('rules/q.yaml:4 spec.params.extra') ?? '', /unknown property "extra"/);
    assert.equal(r.errors.length, 6);
  });

  it('folds union branches into one reason', () => {
    const f = factoryOf(
      Type.Object({
        kind: Type.Optional(Type.Union([Type.Literal('x'), Type.Literal('y')])),
        size: Type.Optional(Type.Union([Type.String(), Type.Number()])),
        shape: Type.Optional(Type.Union([Type.Object({ a: Type.String() }), Type.Array(Type.String())])),
      }),
    );
    const r = validateParams(f, { kind: 'z', size: true, shape: { a: 1 } }, 'p');
    assert.deepEqual(
      r.errors.map((e) => e.field),
      ['p.kind', 'p.size', 'p.shape'],
    );
    assert.equal(r.errors[0].reason, 'must be one of: x, y');
    assert.equal(r.errors[1].reason, 'must be string or number');
    assert.match(r.errors[2].reason, /^matches none of the allowed forms: a must be string; or must be array$/);
  });

  it('accepts Go durations and rejects anything else', () => {
    const f = factoryOf(Type.Object({ d: GoDuration() }));
    for (const ok of ['0', '5s', '1m30s', '250ms', '1.5h', '10us']) assert.deepEqual(validateParams(f, { d: ok }, 'p').errors, [], ok);
    for (const bad of ['-5s', '5', '5 s', 's', '', '1d']) assert.equal(validateParams(f, { d: bad }, 'p').errors.length, 1, bad);
  });

  it('validates absent params as {}', () => {
    assert.deepEqual(validateParams(factory, undefined, 'p').errors, [{ field: 'p.limits', reason: 'is required' }]);
    const ok = validateParams(factoryOf(Type.Object({ a: Type.Optional(Type.Integer({ default: 1 })) })), null, 'p');
    assert.deepEqual(ok.config, { a: 1 });
  });

  it('names the root and paths without a where prefix; quotes keys that are not identifiers', () => {
    const f = factoryOf(Type.Object({ dims: Type.Record(Type.String(), Type.String()) }));
    assert.deepEqual(validateParams(f, 3, '').errors, [{ field: 'params', reason: 'must be object' }]);
    assert.deepEqual(validateParams(f, { dims: { 'source.app': 1 } }, '').errors, [{ field: 'dims["source.app"]', reason: 'must be string' }]);
  });

  it('rejects params that are not plain data', () => {
    const r = validateParams(factory, { limits: [], fn: () => 1 }, 'p');
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].reason, /plain data/);
  });

  it('reports a broken adapter schema as an error instead of throwing', () => {
    const r = validateParams(factoryOf({ type: 'object', properties: { a: { type: 'no-such-type' } } }, 'broken'), {}, 'p');
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].reason, /adapter "broken" has an invalid config schema/);
  });

  it('compiles a factory schema once and keeps schemas of different factories apart', () => {
    let reads = 0;
    const schema: TSchema = Type.Object({ a: Type.String() }, { $id: 'same-id' });
    const counting: AdapterFactory = {
      name: 'counting',
      templates: ['checknothing'],
      get configSchema() {
        reads += 1;
        return schema;
      },
      create: () => ({}),
    };
    validateParams(counting, { a: 'x' }, 'p');
    validateParams(counting, { a: 1 }, 'p');
    assert.equal(reads, 1);
    const other = factoryOf(Type.Object({ b: Type.Integer() }, { $id: 'same-id' }));
    assert.deepEqual(validateParams(other, { b: 2 }, 'p').errors, []);
    assert.equal(validateParams(counting, { a: 1 }, 'p').errors.length, 1);
  });

  it('deepFreeze freezes nested values and returns its argument', () => {
    const v = { a: [{ b: 1 }] };
    assert.equal(deepFreeze(v), v);
    assert.ok(Object.isFrozen(v.a[0]));
  });
});
