import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { encodeCheckAnswer, encodeCheckAnswerText } from '../../../../src/api/http/check-route';
import type { CheckAnswer } from '../../../../src/policy/check';
import type { ReferencedAttribute } from '../../../../src/attributes/types';

/** Referenced-attribute records as the check path makes them: some frozen and shared between answers. */
const shared: ReferencedAttribute[] = [
  Object.freeze({ name: 'source.labels', key: 'app', condition: 'EXACT' as const }),
  Object.freeze({ name: 'destination.service.name', condition: 'ABSENCE' as const }),
];
const reference = fc.oneof(
  fc.constantFrom(...shared),
  fc.record({ name: fc.string(), condition: fc.constantFrom('EXACT' as const, 'ABSENCE' as const) }, { requiredKeys: ['name', 'condition'] }),
  fc.record({ name: fc.string(), key: fc.string(), condition: fc.constantFrom('EXACT' as const, 'ABSENCE' as const) }),
);
/** Usual numbers mostly; now and then values the fast path must hand to the generic encoder. */
const count = fc.oneof({ weight: 8, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.double() }, { weight: 1, arbitrary: fc.integer({ min: -1e6, max: -1 }) });
const duration = fc.oneof(fc.constantFrom(0, 5000, 60_000, 1500), fc.nat({ max: 10 * 3_600_000 }));
const quotaAnswer = fc.record({ grantedAmount: count, validDuration: duration });
const answer: fc.Arbitrary<CheckAnswer> = fc.record(
  {
    status: fc.record(
      { code: fc.oneof(fc.constantFrom(0, 7, 8, 14), fc.double()), message: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }) },
      { requiredKeys: ['code'] },
    ),
    validDuration: duration,
    validUseCount: count,
    referencedAttributes: fc.array(reference, { maxLength: 6 }),
    configGeneration: count,
    quotas: fc.dictionary(fc.string({ unit: 'binary' }), quotaAnswer, { maxKeys: 4 }),
  },
  { requiredKeys: ['status', 'validDuration', 'validUseCount', 'referencedAttributes', 'configGeneration'] },
);

describe('api/http/check-route: the answer encoders', () => {
  it('encodeCheckAnswerText is JSON.stringify(encodeCheckAnswer(a)) for every generated answer', () => {
    fc.assert(
      fc.property(answer, (a) => {
        assert.equal(encodeCheckAnswerText(a), JSON.stringify(encodeCheckAnswer(a)));
      }),
      { numRuns: 5000, seed: 20261205 },
    );
  });

  it('shared referenced-attribute records are encoded the same the second time (cached text)', () => {
    const a: CheckAnswer = {
      status: { code: 7, message: 'denied "x"' },
      validDuration: 5000,
      validUseCount: 3,
      referencedAttributes: shared,
      configGeneration: 4,
    };
    const first = encodeCheckAnswerText(a);
    assert.equal(encodeCheckAnswerText({ ...a }), first);
    assert.deepEqual(JSON.parse(first), {
      status: { code: 7, message: 'denied "x"' },
      validDuration: '5s',
      validUseCount: 3,
      referencedAttributes: [
        { name: 'source.labels', key: 'app', condition: 'EXACT' },
        { name: 'destination.service.name', condition: 'ABSENCE' },
      ],
      configGeneration: 4,
    });
  });
});
