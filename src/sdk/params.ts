/**
 * Validation of Handler `params` against an adapter's config schema, plus schema helpers that
 * adapters (built-in or third-party) use to describe their params.
 */
import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { Type } from '@sinclair/typebox';
import type { StringOptions, TString, TUnsafe } from '@sinclair/typebox';
import type { AdapterFactory } from './adapter';
import type { ErrorDetail } from '../base/errors';
import { parseDuration } from '../attributes/duration';

/** Name of the JSON Schema `format` for Go duration text such as `"5s"` or `"1m30s"` (never negative). */
export const GO_DURATION_FORMAT = 'go-duration';

/** A string param holding a non-negative Go duration (`"250ms"`, `"5s"`, `"1h"`); convert it with `parseDuration`. */
export function GoDuration(options: StringOptions = {}): TString {
  return Type.String({ ...options, format: GO_DURATION_FORMAT });
}

/** A string param restricted to `values` (one `enum` schema, so errors list the allowed values). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/** What {@link validateParams} returns: the frozen config when valid, else every problem found. */
export interface ParamsResult {
  /** The params with schema defaults applied, deep-frozen; absent when `errors` is not empty. */
  config?: unknown;
  errors: ErrorDetail[];
}

type Compiled = { validate: ValidateFunction } | { schemaError: string };

/** One compiled validator per factory (its own Ajv instance, so `$id`s of different adapters never clash). */
const compiled = new WeakMap<AdapterFactory, Compiled>();

function compile(factory: AdapterFactory): Compiled {
  const hit = compiled.get(factory);
  if (hit) return hit;
  let entry: Compiled;
  try {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
    addFormats(ajv);
    ajv.addFormat(GO_DURATION_FORMAT, {
      type: 'string',
      validate: (s: string) => {
        const ms = parseDuration(s);
        return ms !== undefined && ms >= 0;
      },
    });
    entry = { validate: ajv.compile(factory.configSchema) };
  } catch (err) {
    entry = { schemaError: err instanceof Error ? err.message : String(err) };
  }
  compiled.set(factory, entry);
  return entry;
}

/**
 * Validates `params` of a Handler against `factory.configSchema`.
 *
 * The input is never modified: it is deep-cloned, schema defaults are applied to the clone, and
 * the clone is deep-frozen and returned as `config`. Absent params (`undefined`/`null`) are
 * validated as `{}`. Every problem is reported (not just the first), each as
 * `{field: where + path, reason}`, e.g. `rules/q.yaml:3 spec.params.quotas[0].maxAmount`.
 * Compiled validators are cached per factory object for the life of that object.
 *
 * @param where prefix of every `field`, naming the params in their file (may be empty).
 */
export function validateParams(factory: AdapterFactory, params: unknown, where: string): ParamsResult {
  const c = compile(factory);
  if ('schemaError' in c) {
    return { errors: [{ field: where || 'params', reason: `adapter "${factory.name}" has an invalid config schema: ${c.schemaError}` }] };
  }
  let data: unknown;
  try {
    data = params === undefined || params === null ? {} : structuredClone(params);
  } catch {
    return { errors: [{ field: where || 'params', reason: 'must be plain data (objects, arrays, strings, numbers, booleans)' }] };
  }
  if (c.validate(data)) return { config: deepFreeze(data), errors: [] };
  return { errors: describeErrors(c.validate.errors ?? [], where) };
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const IDENT = /^[A-Za-z_$][\w$-]*$/;

/** `/quotas/0/name` → `.quotas[0].name`; keys that are not identifiers become `["key"]`. */
function pathOf(where: string, instancePath: string, extra?: string): string {
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (extra !== undefined) segments.push(extra);
  let out = where;
  for (const raw of segments) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? 'params' : out;
}

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

function reasonOf(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const allowed = known.length > 0 ? ` (allowed: ${known.join(', ')})` : '';
      return `unknown property "${String(p.additionalProperty)}"${allowed}`;
    }
    case 'enum':
      return `must be one of: ${quoteAll(p.allowedValues as unknown[])}`;
    case 'const':
      return `must be ${quoteAll([p.allowedValue])}`;
    case 'type':
      return `must be ${Array.isArray(p.type) ? p.type.join(' or ') : String(p.type)}`;
    case 'format':
      if (p.format === GO_DURATION_FORMAT) return 'must be a duration such as "250ms", "5s" or "1m30s"';
      return `must be a valid ${String(p.format)}`;
    default:
      return e.message ?? `fails "${e.keyword}"`;
  }
}

/**
 * Turns Ajv errors into details. Errors of `anyOf`/`oneOf` branches are folded into one reason
 * at the union's path ("must be one of: A, B", "must be string or number", or the branches' reasons).
 */
function describeErrors(errors: readonly ErrorObject[], where: string): ErrorDetail[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const folded = new Set<ErrorObject>();
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  const push = (d: ErrorDetail): void => {
    const k = `${d.field}\u0000${d.reason}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  };
  const reasons = new Map<ErrorObject, string>();
  for (const u of unions) {
    const branch = errors.filter((e) => e !== u && !folded.has(e) && e.schemaPath.startsWith(`${u.schemaPath}/`));
    for (const b of branch) folded.add(b);
    const direct = branch.filter((b) => b.instancePath === u.instancePath);
    if (direct.length > 0 && direct.every((b) => b.keyword === 'const' || b.keyword === 'enum')) {
      const values = direct.flatMap((b) => (b.keyword === 'const' ? [b.params.allowedValue] : (b.params.allowedValues as unknown[])) as unknown[]);
      reasons.set(u, `must be one of: ${quoteAll(values)}`);
    } else if (direct.length > 0 && direct.length === branch.length && direct.every((b) => b.keyword === 'type')) {
      reasons.set(u, `must be ${direct.map((b) => b.params.type as string).join(' or ')}`);
    } else {
      const alts = [
        ...new Set(
          branch.map((b) => {
            const rel = b.instancePath.slice(u.instancePath.length);
            return `${rel === '' ? '' : `${pathOf('', rel)} `}${reasons.get(b) ?? reasonOf(b)}`;
          }),
        ),
      ];
      reasons.set(u, `matches none of the allowed forms: ${alts.join('; or ')}`);
    }
  }
  for (const e of errors) {
    if (folded.has(e)) continue;
    const reason = reasons.get(e) ?? reasonOf(e);
    if (e.keyword === 'required') push({ field: pathOf(where, e.instancePath, String(e.params.missingProperty)), reason });
    else if (e.keyword === 'additionalProperties') push({ field: pathOf(where, e.instancePath, String(e.params.additionalProperty)), reason });
    else push({ field: pathOf(where, e.instancePath), reason });
  }
  return out;
}
