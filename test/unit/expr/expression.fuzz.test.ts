import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { Bag } from '../../../src/attributes/bag';
import type { AttributeValue, ValueType, Vocabulary } from '../../../src/attributes/types';
import { compileExpression, ExpressionError } from '../../../src/expr/expression';
import type { Evaluator } from '../../../src/expr/expression';
import { fuzzParams, nastyString, withinHangBoundSync } from '../../support/fuzz';

const vocab: Vocabulary = new Map<string, ValueType>([
  ['source.labels', 'STRING_MAP'],
  ['request.headers', 'STRING_MAP'],
  ['destination.service.name', 'STRING'],
  ['response.code', 'INT64'],
  ['connection.mtls', 'BOOL'],
]);
const SCALARS = ['destination.service.name', 'response.code', 'connection.mtls'];
const MAPS = ['source.labels', 'request.headers'];

/** One term of the expression grammar, with its text and what it evaluates to on a bag. */
interface GenTerm {
  text: string;
  eval: (bag: Bag) => AttributeValue | undefined;
}

/** Text safe inside a double-quoted expression string: backslash and quote escaped. */
const quoted = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
/** Keys without the escapes `unquote` turns into control characters (`\n`, `\t`). */
const key = fc.string({ maxLength: 12 }).filter((s) => !/[\\]/.test(s));

const term: fc.Arbitrary<GenTerm> = fc.oneof(
  fc.constantFrom(...SCALARS).map((n) => ({ text: n, eval: (b: Bag) => b.get(n) })),
  fc.tuple(fc.constantFrom(...MAPS), key).map(([n, k]) => ({ text: `${n}[${quoted(k)}]`, eval: (b: Bag) => b.getKey(n, k) })),
  key.map((s) => ({ text: quoted(s), eval: () => s })),
  fc.integer({ min: -1e9, max: 1e9 }).map((n) => ({ text: String(n), eval: () => n })),
  fc.boolean().map((v) => ({ text: String(v), eval: () => v })),
);

/** A bag of some of the declared attributes, keys chosen so map lookups sometimes hit. */
const bag: fc.Arbitrary<Bag> = fc
  .record(
    {
      'source.labels': fc.dictionary(key, fc.string({ maxLength: 8 }), { maxKeys: 4, noNullPrototype: true }),
      'request.headers': fc.dictionary(key, fc.string({ maxLength: 8 }), { maxKeys: 4, noNullPrototype: true }),
      'destination.service.name': fc.string({ maxLength: 10 }),
      'response.code': fc.integer({ min: 100, max: 599 }),
      'connection.mtls': fc.boolean(),
    },
    { requiredKeys: [] },
  )
  .map((v) => Bag.trusted(v as Record<string, AttributeValue>));

/** Compiles, returning the ExpressionError; anything else thrown fails the property. */
function compile(text: string, v?: Vocabulary): Evaluator | ExpressionError {
  try {
    return withinHangBoundSync('compileExpression', () => compileExpression(text, v));
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
}

describe('expr/expression (fuzz)', function () {
  this.timeout(60_000);

  it('any text: compiles or throws an ExpressionError (never another error, never a hang); what compiles evaluates without throwing', () => {
    const pieces = fc.constantFrom(
      'source.labels',
      '["',
      '"]',
      "['",
      "']",
      '|',
      ' | ',
      '"',
      "'",
      '\\',
      '[',
      ']',
      'response.code',
      '1e5',
      '-.5',
      'true',
      ' ',
      'x',
      '||',
    );
    const text = fc.oneof(
      nastyString,
      fc.array(pieces, { maxLength: 12 }).map((a) => a.join('')),
    );
    fc.assert(
      fc.property(text, fc.boolean(), bag, (t, withVocab, b) => {
        const e = compile(t, withVocab ? vocab : undefined);
        if (e instanceof ExpressionError) {
          assert.ok(e.message.length > 0);
          return;
        }
        const v = withinHangBoundSync('evaluate', () => e(b));
        assert.ok(v === undefined || ['string', 'number', 'boolean', 'object'].includes(typeof v));
      }),
      fuzzParams(3000),
    );
  });

  it('grammar-made expressions compile with the vocabulary and give the first present alternative', () => {
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 5 }), bag, (terms, b) => {
        const text = terms.map((t) => t.text).join(' | ');
        const e = compile(text, vocab);
        assert.ok(!(e instanceof ExpressionError), `${text} compiles: ${String(e)}`);
        let want: AttributeValue | undefined;
        for (const t of terms) {
          want = t.eval(b);
          if (want !== undefined) break;
        }
        assert.deepEqual(e(b), want, text);
      }),
      fuzzParams(2000, 3),
    );
  });

  it('an undeclared name anywhere among the alternatives is refused with the vocabulary', () => {
    const undeclared = fc.stringMatching(/^[a-z][a-z0-9_.]{0,15}$/).filter((n) => !vocab.has(n) && n !== 'true' && n !== 'false');
    fc.assert(
      fc.property(fc.array(term, { maxLength: 3 }), undeclared, fc.nat(), (terms, name, at) => {
        const texts = terms.map((t) => t.text);
        texts.splice(at % (texts.length + 1), 0, name);
        const e = compile(texts.join(' | '), vocab);
        assert.ok(e instanceof ExpressionError, `${texts.join(' | ')} is refused`);
        assert.match(e.message, /not declared/);
      }),
      fuzzParams(1000, 5),
    );
  });
});
