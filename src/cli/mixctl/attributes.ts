import { parseDuration } from '../../attributes/duration';
import { usageError } from './errors';

/**
 * Typed attribute flags in the manner of Istio's `mixc`: each flag takes `name=value`, may be
 * repeated, and takes comma-separated lists (`-s a=x,b=y`). A comma-separated piece without `=`
 * continues the previous value (`-s request.path=/a,b` is one value, `/a,b`).
 */
export interface AttributeFlags {
  attributes?: readonly string[];
  string_attributes?: readonly string[];
  int64_attributes?: readonly string[];
  double_attributes?: readonly string[];
  bool_attributes?: readonly string[];
  timestamp_attributes?: readonly string[];
  duration_attributes?: readonly string[];
  stringmap_attributes?: readonly string[];
}

/** A parsed value, or an Error saying why the text is not one. */
type Parser = (value: string, now: () => Date) => unknown;

interface FlagSpec {
  key: keyof AttributeFlags;
  /** commander flags text. */
  flags: string;
  description: string;
  parse: Parser;
}

const INT = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function int64(v: string): unknown {
  if (!INT.test(v)) return new Error(`${JSON.stringify(v)} is not an integer`);
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : new Error(`${v} is outside ±(2^53−1)`);
}

const PARSERS: Readonly<Record<string, Parser>> = {
  guess: (v) => {
    if (INT.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
    if (v === 'true' || v === 'false') return v === 'true';
    return v;
  },
  string: (v) => v,
  int64,
  double: (v) => (DECIMAL.test(v) && Number.isFinite(Number(v)) ? Number(v) : new Error(`${JSON.stringify(v)} is not a number`)),
  bool: (v) => {
    const l = v.toLowerCase();
    return l === 'true' ? true : l === 'false' ? false : new Error(`${JSON.stringify(v)} is not true or false`);
  },
  timestamp: (v, now) => {
    if (v === 'now') return now().toISOString();
    return RFC3339.test(v) && Number.isFinite(Date.parse(v))
      ? v
      : new Error(`${JSON.stringify(v)} is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z) or "now"`);
  },
  duration: (v) => (parseDuration(v) === undefined ? new Error(`${JSON.stringify(v)} is not a duration (e.g. 150ms, 1.5s, 1h2m)`) : v),
  stringmap: (v) => {
    const out: Record<string, string> = {};
    if (v === '') return out;
    for (const entry of v.split(';')) {
      const i = entry.indexOf(':');
      if (i <= 0) return new Error(`${JSON.stringify(entry)} is not key:value (a map is k1:v1;k2:v2)`);
      const key = entry.slice(0, i);
      if (key in out) return new Error(`key ${JSON.stringify(key)} given twice`);
      out[key] = entry.slice(i + 1);
    }
    return out;
  },
};

/** The attribute flags of `check` and `report`, in the order `--help` lists them. */
export const ATTRIBUTE_FLAGS: readonly FlagSpec[] = [
  {
    key: 'attributes',
    flags: '-a, --attributes <name=value>',
    description: 'attributes of a guessed type: integer, true/false, else string',
    parse: PARSERS.guess,
  },
  {
    key: 'string_attributes',
    flags: '-s, --string_attributes <name=value>',
    description: 'STRING (also IP_ADDRESS, DNS_NAME, EMAIL_ADDRESS, URI, BYTES) attributes',
    parse: PARSERS.string,
  },
  { key: 'int64_attributes', flags: '-i, --int64_attributes <name=value>', description: 'INT64 attributes', parse: PARSERS.int64 },
  { key: 'double_attributes', flags: '-d, --double_attributes <name=value>', description: 'DOUBLE attributes', parse: PARSERS.double },
  { key: 'bool_attributes', flags: '-b, --bool_attributes <name=value>', description: 'BOOL attributes (true or false)', parse: PARSERS.bool },
  {
    key: 'timestamp_attributes',
    flags: '-t, --timestamp_attributes <name=value>',
    description: 'TIMESTAMP attributes (RFC 3339, or "now")',
    parse: PARSERS.timestamp,
  },
  { key: 'duration_attributes', flags: '--duration_attributes <name=value>', description: 'DURATION attributes (150ms, 1.5s, 1h2m)', parse: PARSERS.duration },
  {
    key: 'stringmap_attributes',
    flags: '--stringmap_attributes <name=k1:v1;k2:v2>',
    description: 'STRING_MAP attributes, e.g. source.labels=app:frontend;version:v1',
    parse: PARSERS.stringmap,
  },
];

/** The user-facing name of a flag, e.g. `-i/--int64_attributes`. */
export function flagLabel(spec: Pick<FlagSpec, 'flags'>): string {
  return spec.flags.replace(/\s*<.*$/, '').replace(', ', '/');
}

/** commander collector for repeatable flags. */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

/** Splits one flag value into `name=value` items at commas (a piece without `=` continues the previous one). */
export function splitItems(value: string): string[] {
  const out: string[] = [];
  for (const piece of value.split(',')) {
    if (out.length > 0 && !piece.includes('=')) out[out.length - 1] += `,${piece}`;
    else out.push(piece);
  }
  return out;
}

/**
 * Builds the attribute bag of the typed flags. `now` serves timestamp `now`.
 * @throws CliError (exit 2) naming the flag and the item: no `=`, a bad name, a value not of the
 *   flag's type, or one attribute given twice.
 */
export function parseAttributeFlags(flags: AttributeFlags, now: () => Date = () => new Date()): Record<string, unknown> {
  const bag: Record<string, unknown> = {};
  const from = new Map<string, string>();
  for (const spec of ATTRIBUTE_FLAGS) {
    const label = flagLabel(spec);
    for (const raw of flags[spec.key] ?? []) {
      for (const item of splitItems(raw)) {
        const eq = item.indexOf('=');
        if (eq < 0) throw usageError(`${label}: ${JSON.stringify(item)} is not name=value`);
        const name = item.slice(0, eq).trim();
        if (!NAME.test(name)) throw usageError(`${label}: ${JSON.stringify(name)} is not an attribute name`);
        const value = spec.parse(item.slice(eq + 1), now);
        if (value instanceof Error) throw usageError(`${label}: ${name}: ${value.message}`);
        const prev = from.get(name);
        if (prev !== undefined) throw usageError(`${label}: attribute ${name} is given twice${prev === label ? '' : ` (also by ${prev})`}`);
        from.set(name, label);
        bag[name] = value;
      }
    }
  }
  return bag;
}

/**
 * `--quota name=amount` (repeatable, comma lists) → `{name: {amount}}`; amount is a positive integer.
 * @throws CliError (exit 2) naming `--quota`.
 */
export function parseQuotaFlags(values: readonly string[] = []): Record<string, { amount: number }> {
  const out: Record<string, { amount: number }> = {};
  for (const item of values.flatMap(splitItems)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const amount = eq < 0 ? NaN : Number(item.slice(eq + 1));
    if (name === '' || !INT.test(item.slice(eq + 1)) || !Number.isSafeInteger(amount) || amount < 1) {
      throw usageError(`--quota: ${JSON.stringify(item)} is not name=amount with a positive integer amount`);
    }
    if (name in out) throw usageError(`--quota: quota ${name} is given twice`);
    out[name] = { amount };
  }
  return out;
}

/** `--repeat n`: a positive integer. @throws CliError (exit 2) naming `--repeat`. */
export function parseRepeat(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!INT.test(value) || !Number.isSafeInteger(n) || n < 1) throw usageError(`--repeat: ${JSON.stringify(value)} is not a positive integer`);
  return n;
}
