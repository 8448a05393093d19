import { strict as assert } from 'node:assert';
import { Bag, TrackingReader } from '../../../src/attributes/bag';
import type { ValueType } from '../../../src/attributes/types';
import { compileInstance, SharedMaps } from '../../../src/expr/instance';
import type { InstanceBuilder } from '../../../src/expr/instance';
import { TEMPLATES } from '../../../src/templates/templates';

const vocab = new Map<string, ValueType>([
  ['source.labels', 'STRING_MAP'],
  ['destination.service.name', 'STRING'],
  ['response.code', 'INT64'],
  ['response.size', 'INT64'],
]);

const dimensions = { source_app: 'source.labels["app"] | "unknown"', destination: 'destination.service.name', code: 'response.code' };

function metric(ref: string, value: string, dims: Record<string, unknown>, shared: SharedMaps): InstanceBuilder {
  const problems: string[] = [];
  const build = compileInstance(ref, TEMPLATES.metric, { value, dimensions: dims }, vocab, (p, r) => problems.push(`${p.join('.')}: ${r}`), shared);
  assert.deepEqual(problems, []);
  return build!;
}

describe('expr/instance', () => {
  const a = Bag.trusted({ 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend', 'response.code': 200, 'response.size': 10 });
  const b = Bag.trusted({ 'destination.service.name': 'reviews', 'response.code': 503, 'response.size': 20 });

  it('instances writing the same map share one evaluation per bag, and each bag gets its own values', () => {
    const shared = new SharedMaps();
    const count = metric('default/requestcount', '1', dimensions, shared);
    const size = metric('default/responsesize', 'response.size', { ...dimensions }, shared);
    const ia = count(a);
    const sa = size(a);
    assert.equal(ia.fields.dimensions, sa.fields.dimensions, 'same bag: the dimensions object is shared');
    assert.deepEqual(ia.fields.dimensions, { source_app: 'frontend', destination: 'backend', code: 200 });
    assert.equal(sa.fields.value, 10);
    // Alternate bags: never a stale answer.
    const sb = size(b);
    const ib = count(b);
    assert.deepEqual(sb.fields.dimensions, { source_app: 'unknown', destination: 'reviews', code: 503 });
    assert.equal(ib.fields.dimensions, sb.fields.dimensions);
    assert.deepEqual(count(a).fields.dimensions, { source_app: 'frontend', destination: 'backend', code: 200 });
    assert.equal(size(b).fields.value, 20);
  });

  it('maps written differently (other keys, order or expressions) are evaluated apart', () => {
    const shared = new SharedMaps();
    const one = metric('default/one', '1', dimensions, shared);
    const other = metric('default/other', '1', { ...dimensions, code: '"fixed"' }, shared);
    assert.notEqual(one(a).fields.dimensions, other(a).fields.dimensions);
    assert.equal((other(a).fields.dimensions as Record<string, unknown>).code, 'fixed');
    assert.equal((one(a).fields.dimensions as Record<string, unknown>).code, 200);
  });

  it('a check reader records what the map read even when another reader of the same bag evaluated it just before', () => {
    const shared = new SharedMaps();
    const first = metric('default/first', '1', dimensions, shared);
    const second = metric('default/second', '1', dimensions, shared);
    first(new TrackingReader(a));
    const reader = new TrackingReader(a);
    second(reader);
    const names = reader
      .referenced()
      .map((r) => `${r.name}${r.key ? `[${r.key}]` : ''}:${r.condition}`)
      .sort();
    assert.deepEqual(names, ['destination.service.name:EXACT', 'response.code:EXACT', 'source.labels[app]:EXACT']);
  });
});
