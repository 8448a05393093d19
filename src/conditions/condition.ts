/**
 * Rule conditions: json-rules-engine's condition language, validated once against the vocabulary
 * and compiled to plain synchronous predicates that give json-rules-engine's results (engine
 * configured with `allowUndefinedFacts: true`; see `operators.ts` for each operator's semantics).
 */
import type { TopLevelCondition } from 'json-rules-engine';
import type { AttributeReader, ValueType, Vocabulary } from '../attributes/types';
import type { ErrorDetail } from '../base/errors';
import type { OperatorSpec } from './operators';
import { OPERATORS, OPERATOR_NAMES, bindValue } from './operators';

/** A compiled condition: true when the attributes read through `facts` satisfy it. Never async. */
export type Predicate = (facts: AttributeReader) => boolean;

/** A leaf condition: attribute `fact` (one key of it with `path`) compared with `value`. */
export interface FactCondition {
  fact: string;
  operator: string;
  /** A literal, or `{fact, path?}` to compare with another attribute. */
  value: unknown;
  /** `$.key`, `$['key']` or `$["key"]`: one key of a STRING_MAP attribute. */
  path?: string;
  priority?: number;
  name?: string;
}

/** A `match` or `when` condition: `all`/`any`/`not` nested freely over fact conditions. */
export type Condition = TopLevelCondition | FactCondition;

/** The predicate of a rule without `match`. */
export const alwaysTrue: Predicate = () => true;

type Node = Record<string, unknown>;

const hasOwn = (o: object, k: string): boolean => Object.hasOwn(o, k);
const isObject = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

const DOT_KEY = /^\$\.([A-Za-z0-9_-]+)$/;
// Characters jsonpath-plus reads literally inside quotes ($ * @ , : ^ ~ [ ] ( ... are operators to it).
const QUOTED_KEY = /^\$\[(?:'([A-Za-z0-9_. /-]+)'|"([A-Za-z0-9_. /-]+)")\]$/;

/**
 * The map key a supported `path` selects (`$.key`, `$['key']`, `$["key"]`), or undefined for any
 * other JSONPath. Dot keys may hold `A-Z a-z 0-9 _ -`; quoted keys also `.`, `/` and space, except
 * the key `..` (these are the keys jsonpath-plus resolves as a plain own-property lookup).
 */
export function pathKey(path: string): string | undefined {
  const dot = DOT_KEY.exec(path);
  if (dot) return dot[1];
  const q = QUOTED_KEY.exec(path);
  const key = q ? (q[1] ?? q[2]) : undefined;
  return key === '..' ? undefined : key;
}

/**
 * Which boolean operator a condition object is, with json-rules-engine's precedence when several
 * are present (`any`, then `all`, then `not`); undefined for a fact condition.
 */
export function booleanOperatorOf(c: object): 'any' | 'all' | 'not' | undefined {
  if (hasOwn(c, 'any')) return 'any';
  if (hasOwn(c, 'all')) return 'all';
  return hasOwn(c, 'not') ? 'not' : undefined;
}

function isFactRef(v: unknown): v is { fact: string; path?: string } {
  return typeof v === 'object' && v !== null && hasOwn(v, 'fact');
}

// ---------------------------------------------------------------------------------------------
// Compilation

/**
 * Compiles a condition (validated by {@link validateCondition}) into a predicate that returns what
 * json-rules-engine would. Reads attributes only through the reader (`get` for a fact, `getKey`
 * for a fact with `path`), left to right, stopping as soon as the result is known. A bare fact
 * condition at the root is accepted and means the same as `{all: [it]}`. With `vocab`, a `path` on
 * an attribute that is not a STRING_MAP compares the whole value, as the engine does.
 * Throws on structurally unusable input (unknown operator, `condition:` references, bad path).
 */
export function compileCondition(cond: Condition, vocab?: Vocabulary): Predicate {
  return compileNode(cond as unknown as Node, vocab);
}

function compileNode(c: Node, vocab: Vocabulary | undefined): Predicate {
  if (!isObject(c)) throw new TypeError('condition must be an object');
  if (hasOwn(c, 'condition')) throw new TypeError('shared condition references are not supported');
  const bool = booleanOperatorOf(c);
  if (bool === 'not') {
    const inner = compileNode(c.not as Node, vocab);
    return (r) => !inner(r);
  }
  if (bool === undefined) return compileLeaf(c, vocab);
  const parts = (c[bool] as Node[]).map((p) => compileNode(p, vocab));
  // json-rules-engine: an empty `all` AND an empty `any` are both true.
  if (parts.length === 0) return alwaysTrue;
  if (parts.length === 1) return parts[0];
  if (bool === 'all') {
    if (parts.length === 2) {
      const [a, b] = parts;
      return (r) => a(r) && b(r);
    }
    return (r) => {
      for (let i = 0; i < parts.length; i++) if (!parts[i](r)) return false;
      return true;
    };
  }
  if (parts.length === 2) {
    const [a, b] = parts;
    return (r) => a(r) || b(r);
  }
  return (r) => {
    for (let i = 0; i < parts.length; i++) if (parts[i](r)) return true;
    return false;
  };
}

function compileRead(fact: unknown, path: unknown, vocab: Vocabulary | undefined): (r: AttributeReader) => unknown {
  if (typeof fact !== 'string') throw new TypeError('fact must be a string');
  if (path === undefined || path === '') return (r) => r.get(fact);
  const key = typeof path === 'string' ? pathKey(path) : undefined;
  if (key === undefined) throw new TypeError(`unsupported path ${String(path)}`);
  const type = vocab?.get(fact);
  // The engine applies a path only to objects; on anything else it yields the value itself.
  if (type !== undefined && type !== 'STRING_MAP') return (r) => r.get(fact);
  return (r) => r.getKey(fact, key);
}

function compileLeaf(c: Node, vocab: Vocabulary | undefined): Predicate {
  const op = OPERATORS.get(c.operator as string);
  if (op === undefined) throw new TypeError(`unknown operator ${String(c.operator)}`);
  if (!hasOwn(c, 'value')) throw new TypeError('condition has no value');
  const left = compileRead(c.fact, c.path, vocab);
  const value = c.value;
  if (isFactRef(value)) {
    const right = compileRead(value.fact, value.path, vocab);
    return (r) => {
      const a = left(r);
      return op.accepts(a) && op.test(a, right(r));
    };
  }
  const test = bindValue(op.name, value);
  return (r) => test(left(r));
}

// ---------------------------------------------------------------------------------------------
// Validation

type Kind = 'string' | 'number' | 'boolean' | 'map';

function kindOf(type: ValueType, hasPath: boolean): Kind {
  if (type === 'STRING_MAP') return hasPath ? 'string' : 'map';
  if (type === 'BOOL') return 'boolean';
  if (type === 'INT64' || type === 'DOUBLE' || type === 'TIMESTAMP' || type === 'DURATION') return 'number';
  return 'string';
}

const KIND_TEXT: Record<Kind, string> = { string: 'a string', number: 'a number', boolean: 'a boolean', map: 'a map' };
const BOOL_KEYS = ['all', 'any', 'not'];
const BOOL_ALLOWED = new Set([...BOOL_KEYS, 'name', 'priority']);
const LEAF_ALLOWED = new Set(['fact', 'operator', 'value', 'path', 'name', 'priority']);
const REF_ALLOWED = new Set(['fact', 'path']);
const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

/**
 * Checks a condition against the vocabulary and returns every problem found (empty when it is
 * usable), each with `field` = `where` plus the path inside the condition, e.g.
 * `spec.match.all[2].fact`. The root must be `all`, `any` or `not` (json-rules-engine's
 * TopLevelCondition). Besides what json-rules-engine itself rejects, this rejects conditions that
 * could never be true or could throw: type mismatches (`value: "200"` on an INT64), `contains`
 * (no attribute is an array), `in` without a literal array, `path` on a non-STRING_MAP attribute or
 * in a form other than one key, shared `condition:` references and `params`.
 */
export function validateCondition(cond: unknown, vocab: Vocabulary, where: string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (isObject(cond) && !BOOL_KEYS.some((k) => hasOwn(cond, k)) && !hasOwn(cond, 'condition')) {
    out.push({ field: where, reason: 'the root must be `all`, `any` or `not`; wrap a single fact condition as `{all: [...]}`' });
  }
  checkNode(cond, vocab, where, out);
  return out;
}

function checkNode(c: unknown, vocab: Vocabulary, at: string, out: ErrorDetail[]): void {
  const fail = (field: string, reason: string): void => void out.push({ field, reason });
  if (!isObject(c)) return fail(at, 'a condition must be an object with `all`, `any`, `not` or `fact`');
  if (hasOwn(c, 'condition')) {
    return fail(`${at}.condition`, 'shared conditions (`condition:` references) are not supported; write the condition inline');
  }
  if (c.priority !== undefined && !(Number.isInteger(c.priority) && (c.priority as number) >= 1)) {
    fail(`${at}.priority`, 'priority must be an integer ≥ 1 (it orders evaluation only, never the result)');
  }
  if (c.name !== undefined && typeof c.name !== 'string') fail(`${at}.name`, 'name must be a string');
  const bools = BOOL_KEYS.filter((k) => hasOwn(c, k));
  if (bools.length === 0) return checkLeaf(c, vocab, at, out);
  const used = booleanOperatorOf(c);
  if (bools.length > 1) fail(at, `use one of ${bools.join(', ')} per object (json-rules-engine would use only \`${used}\`)`);
  for (const k of Object.keys(c)) if (!BOOL_ALLOWED.has(k)) fail(`${at}.${k}`, `unexpected field beside \`${used}\``);
  for (const b of bools) {
    const sub = c[b];
    if (b === 'not') {
      if (Array.isArray(sub)) fail(`${at}.not`, '`not` takes one condition, not a list');
      else checkNode(sub, vocab, `${at}.not`, out);
    } else if (!Array.isArray(sub)) fail(`${at}.${b}`, `\`${b}\` must be a list of conditions`);
    else sub.forEach((s, i) => checkNode(s, vocab, `${at}.${b}[${i}]`, out));
  }
}

/** The kind of value `fact` (with `path`) yields, or undefined after reporting what is wrong. */
function checkFact(ref: Node, vocab: Vocabulary, at: string, out: ErrorDetail[]): Kind | undefined {
  const fail = (field: string, reason: string): undefined => void out.push({ field, reason });
  const { fact, path } = ref;
  const hasPath = path !== undefined;
  if (hasPath && (typeof path !== 'string' || pathKey(path) === undefined)) {
    fail(`${at}.path`, `unsupported path ${show(path)}: only one map key, as $.key, $['key'] or $["key"]`);
  }
  if (typeof fact !== 'string') return fail(`${at}.fact`, hasOwn(ref, 'fact') ? 'fact must be an attribute name' : 'fact is required');
  const type = vocab.get(fact);
  if (type === undefined) return fail(`${at}.fact`, `\`${fact}\` is not a declared attribute`);
  if (hasPath && type !== 'STRING_MAP') return fail(`${at}.path`, `path needs a STRING_MAP attribute; \`${fact}\` is ${type}`);
  return kindOf(type, hasPath);
}

function checkLeaf(c: Node, vocab: Vocabulary, at: string, out: ErrorDetail[]): void {
  const fail = (field: string, reason: string): void => void out.push({ field, reason });
  for (const k of Object.keys(c)) {
    if (LEAF_ALLOWED.has(k)) continue;
    fail(`${at}.${k}`, k === 'params' ? 'params are not supported: facts are attributes' : `unexpected field \`${k}\``);
  }
  const kind = checkFact(c, vocab, at, out);
  const op = OPERATORS.get(c.operator as string);
  if (op === undefined) {
    const reason = hasOwn(c, 'operator') ? `unknown operator ${show(c.operator)}` : 'operator is required';
    fail(`${at}.operator`, `${reason}; use one of ${OPERATOR_NAMES.join(', ')}`);
  }
  if (!hasOwn(c, 'value')) return fail(`${at}.value`, 'value is required');
  let valueKind: Kind | undefined;
  const value = c.value;
  if (isFactRef(value)) {
    for (const k of Object.keys(value)) if (!REF_ALLOWED.has(k)) fail(`${at}.value.${k}`, `unexpected field \`${k}\` in a fact reference`);
    valueKind = checkFact(value, vocab, `${at}.value`, out);
  }
  if (op !== undefined) checkOperands(op, kind, value, valueKind, at, out);
}

function checkOperands(op: OperatorSpec, kind: Kind | undefined, value: unknown, refKind: Kind | undefined, at: string, out: ErrorDetail[]): void {
  const fail = (field: string, reason: string): void => void out.push({ field, reason });
  const ref = isFactRef(value);
  const never = `so \`${op.name}\` could never be true`;
  if (op.kind === 'array') {
    return fail(`${at}.operator`, `\`${op.name}\` needs a list-valued fact and no attribute is a list, so it is always false; use \`in\`/\`notIn\``);
  }
  if (op.kind === 'numeric') {
    if (kind === 'boolean' || kind === 'map') fail(`${at}.operator`, `\`${op.name}\` needs a number and the fact is ${KIND_TEXT[kind]}, ${never}`);
    if (ref ? refKind === 'boolean' || refKind === 'map' : typeof value !== 'number' || Number.isNaN(value)) {
      fail(`${at}.value`, `\`${op.name}\` needs a number to compare with, not ${ref ? KIND_TEXT[refKind as Kind] : show(value)}`);
    }
    return;
  }
  if (kind === 'map') return fail(`${at}.path`, `\`${op.name}\` on a whole map never matches; select one key, e.g. path: $.app`);
  if (op.kind === 'membership') {
    if (!Array.isArray(value)) return fail(`${at}.value`, `\`${op.name}\` needs a literal list of values`);
    value.forEach((item, i) => {
      if (kind !== undefined && typeof item !== kind) fail(`${at}.value[${i}]`, `${show(item)} is not ${KIND_TEXT[kind]}, so it never matches`);
    });
    return;
  }
  if (ref) {
    if (kind !== undefined && refKind !== undefined && kind !== refKind) {
      fail(`${at}.value`, `compares ${KIND_TEXT[kind]} with ${KIND_TEXT[refKind]}, which are never equal`);
    }
  } else if (Array.isArray(value)) {
    fail(`${at}.value`, `\`${op.name}\` compares with ===, a list never matches; use \`in\`/\`notIn\``);
  } else if (isObject(value)) {
    fail(`${at}.value`, 'an object value must be a fact reference, `{fact: name}`');
  } else if (kind !== undefined && typeof value !== kind) {
    fail(`${at}.value`, `the fact is ${KIND_TEXT[kind]}; ${show(value)} is never equal to it`);
  }
}
