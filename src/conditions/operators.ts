/**
 * json-rules-engine's ten built-in operators, with its exact semantics (checked against
 * json-rules-engine 7.3 by the differential corpus in `test/unit/conditions/condition.test.ts`).
 *
 * The engine evaluates `factValueValidator(fact) && callback(fact, value)`:
 * - `equal` / `notEqual`: `===` / `!==`, no validator. A missing fact is `undefined`, so `notEqual`
 *   is true on a missing attribute and `equal` is false (unless the right side is missing too).
 * - `in` / `notIn`: `value.indexOf(fact) > -1` / `=== -1`, no validator. `notIn` is true on a missing
 *   attribute (`undefined` is never an item of a YAML/JSON array). A non-array `value` is not checked:
 *   a string searches its characters, anything else throws (the engine's run fails).
 * - `contains` / `doesNotContain`: the fact must be an array (`Array.isArray`), else false. No
 *   attribute type is an array, so both are always false in Mixer, even `doesNotContain` on a missing
 *   attribute.
 * - `lessThan`, `lessThanInclusive`, `greaterThan`, `greaterThanInclusive`: the fact must pass
 *   `parseFloat(fact)` (so `"5"`, `"5px"` and `"10.0.0.1"` pass; `true`, `undefined` and maps fail),
 *   then plain JS `<`/`<=`/`>`/`>=`, with JS coercion (`"5" < 10` is true, `"5" < "10"` is false).
 */

/** Names of the supported operators (json-rules-engine's defaults; no decorators such as `not:`). */
export const OPERATOR_NAMES = [
  'equal',
  'notEqual',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
] as const;

export type OperatorName = (typeof OPERATOR_NAMES)[number];

/** What an operator expects on each side, for config validation. */
export type OperatorKind = 'equality' | 'membership' | 'array' | 'numeric';

/** One operator: json-rules-engine's fact-value validator and callback. */
export interface OperatorSpec {
  readonly name: OperatorName;
  readonly kind: OperatorKind;
  /** The engine's factValueValidator: when it rejects the fact value the condition is false. */
  readonly accepts: (factValue: unknown) => boolean;
  /** The engine's callback, called only on accepted fact values. May throw where the engine throws. */
  readonly test: (factValue: unknown, value: unknown) => boolean;
}

type Searchable = { indexOf(item: unknown): number };

const anything = (_factValue: unknown): boolean => true;

/** json-rules-engine's numberValidator: `Number.parseFloat(v).toString() !== 'NaN'`. */
function isNumeric(v: unknown): boolean {
  if (typeof v === 'number') return v === v;
  return !Number.isNaN(Number.parseFloat(v as string));
}

function spec(name: OperatorName, kind: OperatorKind, test: OperatorSpec['test'], accepts: OperatorSpec['accepts'] = anything): OperatorSpec {
  return { name, kind, accepts, test };
}

const SPECS: readonly OperatorSpec[] = [
  spec('equal', 'equality', (a, b) => a === b),
  spec('notEqual', 'equality', (a, b) => a !== b),
  spec('in', 'membership', (a, b) => (b as Searchable).indexOf(a) > -1),
  spec('notIn', 'membership', (a, b) => (b as Searchable).indexOf(a) === -1),
  spec('contains', 'array', (a, b) => (a as unknown[]).indexOf(b) > -1, Array.isArray),
  spec('doesNotContain', 'array', (a, b) => (a as unknown[]).indexOf(b) === -1, Array.isArray),
  spec('lessThan', 'numeric', (a, b) => (a as number) < (b as number), isNumeric),
  spec('lessThanInclusive', 'numeric', (a, b) => (a as number) <= (b as number), isNumeric),
  spec('greaterThan', 'numeric', (a, b) => (a as number) > (b as number), isNumeric),
  spec('greaterThanInclusive', 'numeric', (a, b) => (a as number) >= (b as number), isNumeric),
];

/** The operators by name. */
export const OPERATORS: ReadonlyMap<string, OperatorSpec> = new Map(SPECS.map((s) => [s.name, s]));

/** True when `name` is one of {@link OPERATOR_NAMES}. */
export function isOperatorName(name: unknown): name is OperatorName {
  return typeof name === 'string' && OPERATORS.has(name);
}

/** Arrays longer than this are searched through a Set instead of `indexOf`. */
const SET_THRESHOLD = 8;

/**
 * A test of a fact value against a constant right-hand side, equivalent to
 * `accepts(fact) && test(fact, value)` but with the constant work done once (e.g. a Set for a
 * long `in` list). Throws where the engine would throw (e.g. `in` with a numeric value).
 */
export function bindValue(op: OperatorName, value: unknown): (factValue: unknown) => boolean {
  const s = OPERATORS.get(op) as OperatorSpec;
  switch (op) {
    case 'equal':
      return (a) => a === value;
    case 'notEqual':
      return (a) => a !== value;
    case 'in':
    case 'notIn': {
      if (!Array.isArray(value) || value.length <= SET_THRESHOLD) return (a) => s.test(a, value);
      // indexOf is `===`: unlike Set.has it never finds NaN.
      const set = new Set<unknown>(value);
      return op === 'in' ? (a) => a === a && set.has(a) : (a) => a !== a || !set.has(a);
    }
    default:
      return s.accepts === anything ? (a) => s.test(a, value) : (a) => s.accepts(a) && s.test(a, value);
  }
}
