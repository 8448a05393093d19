/**
 * The attribute bag decoder: checks each attribute's name against the vocabulary, decodes its value
 * with the decoders of `values.ts`, and reports every problem found in one error.
 */
import { MixerError } from '../base/errors';
import type { ErrorCode, ErrorDetail } from '../base/errors';
import { Bag } from './bag';
import type { AttributeValue, Vocabulary } from './types';
import { WIRE_FORM, decodeScalar, decodeStringMap, isStringMap } from './values';

/** Bounds applied while decoding one bag. */
export interface DecodeLimits {
  /** Most attributes one bag may carry (DESIGN default 256). */
  maxAttributes: number;
}

/** The limits of DESIGN.md: 256 attributes per bag. */
export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({ maxAttributes: 256 });

/** Most problems reported for one bag; decoding stops once this many are found. */
const MAX_DETAILS = 20;

/** `prefix.name` for an error field, with a hostile name cut to 100 characters. */
function fieldOf(prefix: string, name: string): string {
  return `${prefix}.${name.length > 100 ? `${name.slice(0, 100)}…` : name}`;
}

/** Says what a rejected JSON value was, briefly, never echoing more than ~40 characters. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'number':
    case 'boolean':
      return String(v);
    default:
      return `an ${typeof v}`;
  }
}

/** Collects a bag's problems; `full` once MAX_DETAILS are held. */
class Problems {
  readonly details: ErrorDetail[] = [];
  code: ErrorCode | undefined;
  add(code: ErrorCode, field: string, reason: string): void {
    if (this.code === undefined) this.code = code;
    this.details.push({ field, reason });
  }
  get full(): boolean {
    return this.details.length >= MAX_DETAILS;
  }
}

/** Adds one problem per non-string value of a STRING_MAP, named `field.key`. */
function reportStringMap(v: object, field: string, problems: Problems): void {
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue;
    const item = (v as Record<string, unknown>)[key];
    if (typeof item === 'string') continue;
    problems.add('MIXER_ERR_ATTRIBUTE_TYPE', fieldOf(field, key), `expected a string value in STRING_MAP, got ${describe(item)}`);
    if (problems.full) return;
  }
}

/**
 * Decodes and validates one untrusted JSON attribute bag against the vocabulary.
 *
 * Values become their decoded form (see `types.ts`): TIMESTAMP → epoch ms, DURATION → ms, IP text
 * normalised, STRING_MAP copied and frozen. `where` prefixes every error field, e.g. `attributes`
 * for a check or `attributes[3]` for the fourth bag of a report, giving `attributes[3].response.code`.
 *
 * @throws MixerError `MIXER_ERR_BAD_REQUEST` (field `where`) when `raw` is not a JSON object; otherwise,
 *   when any attribute is wrong, one error carrying every problem found (at most 20) with the code of
 *   the first: `MIXER_ERR_ATTRIBUTE_UNKNOWN` (undeclared name, `__proto__` included),
 *   `MIXER_ERR_ATTRIBUTE_TYPE` (value not of the declared type), `MIXER_ERR_TOO_MANY_ATTRIBUTES`
 *   (named at the first attribute past `limits.maxAttributes`; nothing after it is read).
 *   The message names the first offending attribute.
 *
 * `owned`: `raw` is the caller's own fresh `JSON.parse` result, referenced by nothing else. The bag
 * then keeps that object instead of a copy: converted values are written back into it and STRING_MAP
 * objects are frozen where they are. The decoded bag is the same either way; `raw` is not to be used
 * afterwards (on error too). Default false: `raw` is left untouched.
 */
export function decodeBag(raw: unknown, vocab: Vocabulary, limits: DecodeLimits, where: string, owned = false): Bag {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    const reason = `expected an object of attribute name to value, got ${describe(raw)}`;
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `${where}: ${reason}`, { details: [{ field: where, reason }] });
  }
  const out: Record<string, AttributeValue> = owned ? (raw as Record<string, AttributeValue>) : {};
  let problems: Problems | undefined;
  let count = 0;
  for (const name in raw) {
    if (!Object.hasOwn(raw, name)) continue;
    if (++count > limits.maxAttributes) {
      problems ??= new Problems();
      problems.add('MIXER_ERR_TOO_MANY_ATTRIBUTES', fieldOf(where, name), `a bag may carry at most ${limits.maxAttributes} attributes`);
      break;
    }
    const type = name === '__proto__' ? undefined : vocab.get(name);
    const v = (raw as Record<string, unknown>)[name];
    if (type === undefined) {
      problems ??= new Problems();
      problems.add('MIXER_ERR_ATTRIBUTE_UNKNOWN', fieldOf(where, name), 'attribute is not declared by any AttributeManifest');
    } else if (type === 'STRING_MAP' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      if (owned) {
        if (isStringMap(v)) Object.freeze(v);
        else reportStringMap(v, fieldOf(where, name), (problems ??= new Problems()));
      } else {
        const map = decodeStringMap(v);
        if (map !== undefined) out[name] = map;
        else reportStringMap(v, fieldOf(where, name), (problems ??= new Problems()));
      }
    } else {
      const value = decodeScalar(type, v);
      if (value !== undefined) {
        // Owned: most values (strings, numbers, booleans, normal IPs) decode to themselves.
        if (!owned || value !== v) out[name] = value;
        continue;
      }
      problems ??= new Problems();
      problems.add('MIXER_ERR_ATTRIBUTE_TYPE', fieldOf(where, name), `expected ${WIRE_FORM[type]}, got ${describe(v)}`);
    }
    if (problems !== undefined && problems.full) break;
  }
  if (problems !== undefined && problems.code !== undefined) {
    const [first] = problems.details;
    const more = problems.details.length > 1 ? ` (and ${problems.details.length - 1} more)` : '';
    throw new MixerError(problems.code, `${first.field}: ${first.reason}${more}`, { details: problems.details });
  }
  return Bag.trusted(out);
}
