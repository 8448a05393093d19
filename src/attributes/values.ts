/**
 * Decoders of single attribute values, one per value type: the syntax each type accepts on the wire
 * and the decoded form it becomes (see `types.ts`). `decode.ts` applies them to a whole bag.
 */
import { IPv6 } from 'ipaddr.js';
import { parseDuration } from './duration';
import { parseTimestamp } from './timestamp';
import type { AttributeValue, ValueType } from './types';

/** Each type's wire form as said in an error reason. */
export const WIRE_FORM: Readonly<Record<ValueType, string>> = {
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

/** A frozen plain-object copy of `v` when every own value is a string, else undefined. */
export function decodeStringMap(v: object): Readonly<Record<string, string>> | undefined {
  const out: Record<string, string> = {};
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue;
    const item = (v as Record<string, unknown>)[key];
    if (typeof item !== 'string') return undefined;
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return Object.freeze(out);
}

/** True when every own value of `v` is a string. */
export function isStringMap(v: object): boolean {
  for (const key in v) {
    if (Object.hasOwn(v, key) && typeof (v as Record<string, unknown>)[key] !== 'string') return false;
  }
  return true;
}

/** The decoded value of `v` as `type`, or undefined when `v` is not of that type. */
export function decodeScalar(type: ValueType, v: unknown): AttributeValue | undefined {
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
