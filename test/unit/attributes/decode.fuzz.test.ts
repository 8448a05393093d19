import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DEFAULT_LIMITS, decodeBag } from '../../../src/attributes/decode';
import type { Bag } from '../../../src/attributes/bag';
import type { ValueType, Vocabulary } from '../../../src/attributes/types';
import { MixerError } from '../../../src/base/errors';
import { fuzzParams, nastyString, withinHangBoundSync } from '../../support/fuzz';

const vocab: Vocabulary = new Map<string, ValueType>([
  ['source.uid', 'STRING'],
  ['response.code', 'INT64'],
  ['ratio', 'DOUBLE'],
  ['connection.mtls', 'BOOL'],
  ['request.time', 'TIMESTAMP'],
  ['response.duration', 'DURATION'],
  ['source.ip', 'IP_ADDRESS'],
  ['source.labels', 'STRING_MAP'],
  ['host', 'DNS_NAME'],
  ['mail', 'EMAIL_ADDRESS'],
  ['link', 'URI'],
  ['blob', 'BYTES'],
]);
const NAMES = [...vocab.keys()];
const DECODE_CODES = new Set(['MIXER_ERR_BAD_REQUEST', 'MIXER_ERR_ATTRIBUTE_UNKNOWN', 'MIXER_ERR_ATTRIBUTE_TYPE', 'MIXER_ERR_TOO_MANY_ATTRIBUTES']);

/** The JS type each declared type decodes to. */
const DECODED_TYPE: Record<ValueType, string> = {
  STRING: 'string',
  INT64: 'number',
  DOUBLE: 'number',
  BOOL: 'boolean',
  TIMESTAMP: 'number',
  DURATION: 'number',
  IP_ADDRESS: 'string',
  STRING_MAP: 'object',
  DNS_NAME: 'string',
  EMAIL_ADDRESS: 'string',
  URI: 'string',
  BYTES: 'string',
};

/** Any JSON value, with hostile strings as keys and values, as `JSON.parse` would give it. */
const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(nastyString, tie('v'), { maxKeys: 5 }),
  ),
})).v;

/** A value that may or may not be a valid wire form for the attribute it is given to. */
const wireish: fc.Arbitrary<unknown> = fc.oneof(
  anyJson,
  fc.constantFrom(
    '10.0.0.1',
    '::ffff:1.2.3.4',
    '2001:db8::1',
    '1.5s',
    '150ms',
    '-1h',
    '2024-05-01T12:00:00Z',
    '2024-13-01T00:00:00Z',
    'a@b.c',
    'http://x/y',
    'aGVsbG8=',
  ),
  fc.integer({ min: -(2 ** 60), max: 2 ** 60 }),
  fc.dictionary(nastyString, fc.oneof(nastyString, fc.integer()), { maxKeys: 4 }),
);

/** A bag of declared names (plus, sometimes, undeclared and prototype names) with wire-ish values. */
const bagLike: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: nastyString }), wireish), { maxLength: 12 })
  .map((entries) => {
    // JSON.parse makes `__proto__` an own property: so must the fuzzer.
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  });

/** What `JSON.parse` of the generated value's text gives: what a decoder is handed in production. */
const asParsed = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** Decodes or returns the MixerError; anything else thrown fails the property. */
function attempt(raw: unknown, owned: boolean): Bag | MixerError {
  try {
    return withinHangBoundSync('decodeBag', () => decodeBag(owned ? structuredClone(raw) : raw, vocab, DEFAULT_LIMITS, 'attributes', owned));
  } catch (err) {
    if (err instanceof MixerError) return err;
    throw err;
  }
}

function checkError(err: MixerError): void {
  assert.ok(DECODE_CODES.has(err.code), `unexpected code ${err.code}`);
  assert.ok(err.details.length >= 1 && err.details.length <= 20, `1..20 details, got ${err.details.length}`);
  for (const d of err.details) {
    assert.ok(d.field.startsWith('attributes'), `field ${d.field} names where it is`);
    // `attributes.<name>` or, for a STRING_MAP value, `attributes.<name>.<key>`: each part cut to 101.
    assert.ok(d.field.length <= 'attributes.'.length + 101 + 1 + 101, `a hostile name is cut in the field (${d.field.length})`);
    assert.ok(d.reason.length <= 200, `reason is short: ${d.reason.length}`);
  }
  assert.ok(err.message.length <= 400, `message is bounded: ${err.message.length}`);
}

describe('attributes/decode (fuzz)', function () {
  this.timeout(60_000);

  it('any JSON value: a Bag or a typed 4xx MixerError with bounded details, never another throw or a hang', () => {
    fc.assert(
      fc.property(fc.oneof(anyJson, bagLike).map(asParsed), (raw) => {
        const r = attempt(raw, false);
        if (r instanceof MixerError) checkError(r);
      }),
      fuzzParams(2000),
    );
  });

  it('bags of declared names: every decoded value has its declared type; owned and copied decoding agree', () => {
    fc.assert(
      fc.property(bagLike.map(asParsed), (raw) => {
        const before = structuredClone(raw);
        const copied = attempt(raw, false);
        const owned = attempt(raw, true);
        if (copied instanceof MixerError) {
          checkError(copied);
          assert.ok(owned instanceof MixerError, 'owned decoding fails too');
          assert.equal(owned.code, copied.code);
          assert.deepEqual(owned.details, copied.details);
          return;
        }
        assert.ok(!(owned instanceof MixerError), `owned decoding succeeds too: ${owned instanceof MixerError ? owned.message : ''}`);
        assert.deepEqual(owned.names().sort(), copied.names().sort());
        for (const name of copied.names()) {
          const type = vocab.get(name);
          assert.ok(type !== undefined, `only declared names survive: ${name}`);
          const v = copied.get(name);
          assert.equal(typeof v, DECODED_TYPE[type], `${name} decodes to a ${DECODED_TYPE[type]}`);
          if (typeof v === 'number') assert.ok(Number.isFinite(v), `${name} is finite`);
          if (type === 'STRING_MAP') for (const x of Object.values(v as object)) assert.equal(typeof x, 'string');
          assert.deepEqual(owned.get(name), v);
        }
        assert.deepEqual(raw, before, 'the input is left as it was when not owned');
      }),
      fuzzParams(2000, 7),
    );
  });

  it('a bag over the attribute limit is refused with MIXER_ERR_TOO_MANY_ATTRIBUTES whatever the values', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(wireish, { minLength: 9, maxLength: 30 }), (max, values) => {
        const raw: Record<string, unknown> = {};
        values.forEach((v, i) => (raw[`x${i}`] = v));
        try {
          decodeBag(raw, new Map<string, ValueType>(values.map((_, i) => [`x${i}`, 'STRING'])), { maxAttributes: max }, 'attributes');
          assert.fail('should have thrown');
        } catch (err) {
          assert.ok(err instanceof MixerError);
          assert.ok(err.details.some((d) => d.reason.includes(`at most ${max} attributes`)));
        }
      }),
      fuzzParams(300, 11),
    );
  });
});
