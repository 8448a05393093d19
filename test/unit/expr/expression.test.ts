import { strict as assert } from 'node:assert';
import { Bag } from '../../../src/attributes/bag';
import type { ValueType } from '../../../src/attributes/types';
import { compileExpression, ExpressionError } from '../../../src/expr/expression';

const vocab = new Map<string, ValueType>([
  ['source.labels', 'STRING_MAP'],
  ['destination.service.host', 'STRING'],
  ['request.host', 'STRING'],
  ['response.code', 'INT64'],
]);

describe('expr/expression', () => {
  const bag = Bag.trusted({ 'source.labels': { app: 'frontend', 'a"b': 'q' }, 'request.host': 'backend.local', 'response.code': 503 });

  it('reads attributes, map keys and literals', () => {
    assert.equal(compileExpression('request.host', vocab)(bag), 'backend.local');
    assert.equal(compileExpression('source.labels["app"]', vocab)(bag), 'frontend');
    assert.equal(compileExpression("source.labels['a\"b']", vocab)(bag), 'q');
    assert.equal(compileExpression('"x | y"', vocab)(bag), 'x | y');
    assert.equal(compileExpression('42', vocab)(bag), 42);
    assert.equal(compileExpression('true', vocab)(bag), true);
    assert.equal(compileExpression(7, vocab)(bag), 7);
    assert.equal(compileExpression('response.code', vocab)(bag), 503);
  });

  it('`|` picks the first present value', () => {
    assert.equal(compileExpression('destination.service.host | request.host | "unknown"', vocab)(bag), 'backend.local');
    assert.equal(compileExpression('source.labels["version"] | "unknown"', vocab)(bag), 'unknown');
    assert.equal(compileExpression('destination.service.host | source.labels["nope"]', vocab)(bag), undefined);
  });

  it('rejects undeclared attributes, indexing a non-map, and garbage', () => {
    assert.throws(() => compileExpression('source.nickname', vocab), /not declared/);
    assert.throws(() => compileExpression('request.host["x"]', vocab), /not STRING_MAP/);
    assert.throws(() => compileExpression('a || b', vocab), ExpressionError);
    assert.throws(() => compileExpression('"open', vocab), /unterminated/);
    assert.throws(() => compileExpression('request.host |', vocab), /empty term/);
    assert.throws(() => compileExpression('f(x)', vocab), /cannot parse/);
  });
});
