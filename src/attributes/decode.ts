import { IPv6 } from 'ipaddr.js';
import { MixerError } from '../errors';
import type { ErrorCode, ErrorDetail } from '../errors';
import { Bag } from './bag';
import { parseDuration } from './duration';
import type { AttributeValue, ValueType, Vocabulary } from './types';

/** Bounds applied while decoding one bag. */
export interface DecodeLimits {
  /** Most attributes one bag may carry (DESIGN default 256). */
  maxAttributes: number;
}

/** The limits of DESIGN.md: 256 attributes per bag. */
export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({ maxAttributes: 256 });

/** Most problems reported for one bag; decoding stops once this many are found. */
const MAX_DETAILS = 20;

/** Each type's wire form as said in an error reason. */
const EXPECTED: Readonly<Record<ValueType, string>> = {
  STRING: 'STRING (a string)',
  INT64: 'INT64 (an integer within ±(2^53−1))',
  DOUBLE: 'DOUBLE (a finite number)',
  BOOL: 'BOOL (true or false)',
  TIMESTAMP: 'TIMESTAMP (an RFC 3339 string such as "2024-05-01T12:00:00.5Z")',
  DURATION: 'DURATION (a Go duration string such as "150ms" or "1.5s")',
  IP_ADDRESS: 'IP_ADDRESS (dotted IPv4 or colon IPv6 text)',
  STRING_MAP: 'STRING_MAP (an object whose values are strings)',
  DNS_NAME: 'DNS_NAME (a host name such as "reviews.default.svc")',
  EMAIL_ADDRESS: 'EMAIL_ADDRESS (local@domain)',
  URI: 'URI (an absolute URI or a path starting with "/")',
  BYTES: 'BYTES (base64 text)',
};

const hasOwn = Object.prototype.hasOwnProperty;

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

function digits(s: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** 400 Gregorian years in ms: used to move years 0–99 out of `Date.UTC`'s 1900 mapping. */
const FOUR_CENTURIES_MS = 146097 * 86_400_000;

/**
 * Parses an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `±HH:MM`; `T` and `Z`
 * in either case; fraction of 1–9 digits; no leap second 60) into epoch milliseconds, keeping
 * sub-millisecond digits as a fraction. Undefined for anything else, including impossible dates.
 */
export function parseTimestamp(s: string): number | undefined {
  const n = s.length;
  if (n < 20 || s.charCodeAt(4) !== 0x2d || s.charCodeAt(7) !== 0x2d || s.charCodeAt(13) !== 0x3a || s.charCodeAt(16) !== 0x3a) return undefined;
  const t = s.charCodeAt(10);
  if (t !== 0x54 && t !== 0x74) return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  let i = 19;
  let fractionMs = 0;
  if (s.charCodeAt(i) === 0x2e) {
    const start = ++i;
    let v = 0;
    for (let c = s.charCodeAt(i) - 0x30; c >= 0 && c <= 9 && i < n; c = s.charCodeAt(++i) - 0x30) v = v * 10 + c;
    const count = i - start;
    if (count < 1 || count > 9) return undefined;
    fractionMs = (v * 1000) / 10 ** count;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(i);
  if (z === 0x5a || z === 0x7a) {
    if (i + 1 !== n) return undefined;
  } else if (z === 0x2b || z === 0x2d) {
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (i + 6 !== n || s.charCodeAt(i + 3) !== 0x3a || oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMin = (z === 0x2d ? -1 : 1) * (oh * 60 + om);
  } else {
    return undefined;
  }
  const shift = year < 100 ? 400 : 0;
  const utc = Date.UTC(year + shift, month - 1, day, hour, minute, second) - (shift ? FOUR_CENTURIES_MS : 0);
  return utc - offsetMin * 60_000 + fractionMs;
}

/**
 * Dotted IPv4 with four decimal parts of 0–255 and no leading zeros: the same set of strings
 * as ipaddr.js's `IPv4.isValidFourPartDecimal`, checked without a regex (it is on the hot path).
 */
function isDottedIPv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let i = 0;
  while (i < n) {
    const start = i;
    let v = 0;
    for (let c = s.charCodeAt(i) - 0x30; c >= 0 && c <= 9; c = s.charCodeAt(++i) - 0x30) v = v * 10 + c;
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(start) === 0x30)) return false;
    parts++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x2e || parts === 4) return false;
    i++;
    if (i === n) return false;
  }
  return parts === 4;
}

/**
 * Normalises an IP address: dotted IPv4 (four decimal parts, no leading zeros) as given, IPv6
 * in RFC 5952 form, an IPv4-mapped IPv6 address as its dotted IPv4 (as Go's `net.IP` prints it).
 * Undefined for anything else (`"1.2.3"`, `"1"`, `"010.0.0.1"`, `"::g"`).
 */
export function normaliseIp(s: string): string | undefined {
  if (s.indexOf(':') < 0) return isDottedIPv4(s) ? s : undefined;
  if (!IPv6.isValid(s)) return undefined;
  const ip = IPv6.parse(s);
  return ip.isIPv4MappedAddress() && ip.zoneId === undefined ? ip.toIPv4Address().toString() : ip.toRFC5952String();
}

/**
 * DNS name syntax: 1–253 characters (one more for a trailing dot), dot-separated labels of 1–63
 * letters, digits, `-` or `_` that neither start nor end with `-`.
 */
export function isDnsName(s: string): boolean {
  const n = s.charCodeAt(s.length - 1) === 0x2e ? s.length - 1 : s.length;
  if (n < 1 || n > 253) return false;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      const len = i - labelStart;
      if (len < 1 || len > 63 || s.charCodeAt(labelStart) === 0x2d || s.charCodeAt(i - 1) === 0x2d) return false;
      labelStart = i + 1;
    } else if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) {
      return false;
    }
  }
  return true;
}

/** True when `s` has no whitespace or control characters (and is not empty). */
function isVisible(s: string, from = 0, to = s.length): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** `local@domain`: split at the last `@`; local part 1–64 visible characters; domain a DNS name. */
export function isEmailAddress(s: string): boolean {
  const at = s.lastIndexOf('@');
  return at >= 1 && at <= 64 && isVisible(s, 0, at) && isDnsName(s.slice(at + 1));
}

/** An absolute URI that WHATWG `URL` parses, or a relative reference starting with `/`; no spaces. */
export function isUri(s: string): boolean {
  if (!isVisible(s)) return false;
  return s.charCodeAt(0) === 0x2f ? true : URL.canParse(s);
}

/** Base64 (standard or URL-safe alphabet), padding optional but well placed when present. */
export function isBase64(s: string): boolean {
  let n = s.length;
  let pad = 0;
  while (n > 0 && pad < 2 && s.charCodeAt(n - 1) === 0x3d) {
    n--;
    pad++;
  }
  if (pad > 0 ? s.length % 4 !== 0 : n % 4 === 1) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x2d || c === 0x5f;
    if (!ok) return false;
  }
  return true;
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

/** A frozen plain-object copy of `v` when every own value is a string, else undefined. */
function decodeStringMap(v: object): Readonly<Record<string, string>> | undefined {
  const out: Record<string, string> = {};
  for (const key in v) {
    if (!hasOwn.call(v, key)) continue;
    const item = (v as Record<string, unknown>)[key];
    if (typeof item !== 'string') return undefined;
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return Object.freeze(out);
}

/** True when every own value of `v` is a string. */
function isStringMap(v: object): boolean {
  for (const key in v) {
    if (hasOwn.call(v, key) && typeof (v as Record<string, unknown>)[key] !== 'string') return false;
  }
  return true;
}

/** Adds one problem per non-string value of a STRING_MAP, named `field.key`. */
function reportStringMap(v: object, field: string, problems: Problems): void {
  for (const key in v) {
    if (!hasOwn.call(v, key)) continue;
    const item = (v as Record<string, unknown>)[key];
    if (typeof item === 'string') continue;
    problems.add('MIXER_ERR_ATTRIBUTE_TYPE', fieldOf(field, key), `expected a string value in STRING_MAP, got ${describe(item)}`);
    if (problems.full) return;
  }
}

/** The decoded value of `v` as `type`, or undefined when `v` is not of that type. */
function decodeScalar(type: ValueType, v: unknown): AttributeValue | undefined {
  switch (type) {
    case 'STRING':
      return typeof v === 'string' ? v : undefined;
    case 'INT64':
      return Number.isSafeInteger(v) ? (v as number) : undefined;
    case 'DOUBLE':
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    case 'BOOL':
      return typeof v === 'boolean' ? v : undefined;
    case 'TIMESTAMP':
      return typeof v === 'string' ? parseTimestamp(v) : undefined;
    case 'DURATION':
      return typeof v === 'string' ? parseDuration(v) : undefined;
    case 'IP_ADDRESS':
      return typeof v === 'string' ? normaliseIp(v) : undefined;
    case 'DNS_NAME':
      return typeof v === 'string' && isDnsName(v) ? v : undefined;
    case 'EMAIL_ADDRESS':
      return typeof v === 'string' && isEmailAddress(v) ? v : undefined;
    case 'URI':
      return typeof v === 'string' && isUri(v) ? v : undefined;
    case 'BYTES':
      return typeof v === 'string' && isBase64(v) ? v : undefined;
    default:
      return undefined;
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
    if (!hasOwn.call(raw, name)) continue;
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
      problems.add('MIXER_ERR_ATTRIBUTE_TYPE', fieldOf(where, name), `expected ${EXPECTED[type]}, got ${describe(v)}`);
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
