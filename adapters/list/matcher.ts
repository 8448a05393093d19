import ipaddr from 'ipaddr.js';
import { MAX_REGEX_INPUT, compileLinearRegex } from '../../src/sdk';
import type { IPv4, IPv6 } from 'ipaddr.js';

/** How list entries and checked values are compared. */
export const ENTRY_TYPES = ['STRINGS', 'CASE_INSENSITIVE_STRINGS', 'IP_ADDRESSES', 'REGEX'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

/** A checked value in the form a matcher compares: text, or a parsed address for IP_ADDRESSES. */
export type PreparedValue = string | IPv4 | IPv6;

/** A compiled list; `has` is O(1) for strings and O(distinct prefix lengths) for addresses. */
export interface ListMatcher {
  /** Number of valid entries compiled. */
  readonly size: number;
  has(value: PreparedValue): boolean;
}

/** Strict address parse: dotted-quad IPv4 or IPv6; IPv4-mapped IPv6 becomes IPv4. */
function parseAddress(text: string): IPv4 | IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (ipaddr.IPv6.isValid(text)) {
    const v6 = ipaddr.IPv6.parse(text);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  }
  return undefined;
}

/**
 * Turns a checked value into the matcher's form; undefined when the value cannot be in a list of
 * this type (an IP_ADDRESSES list given text that is not an address).
 */
export function prepareValue(type: EntryType, raw: string): PreparedValue | undefined {
  if (type === 'IP_ADDRESSES') return parseAddress(raw);
  if (type === 'CASE_INSENSITIVE_STRINGS') return raw.toLowerCase();
  return raw;
}

/** The first `len` bits of `bytes`, as a string key. */
function prefixKey(bytes: readonly number[], len: number): string {
  let out = '';
  for (let i = 0; i * 8 < len; i++) {
    const bits = Math.min(8, len - i * 8);
    out += String.fromCharCode(bytes[i] & ((0xff << (8 - bits)) & 0xff));
  }
  return out;
}

/** Networks grouped by prefix length: a lookup masks the address once per length present. */
class IpMatcher implements ListMatcher {
  private readonly byLen = { ipv4: new Map<number, Set<string>>(), ipv6: new Map<number, Set<string>>() };
  size = 0;

  add(addr: IPv4 | IPv6, len: number): void {
    const table = this.byLen[addr.kind()];
    let set = table.get(len);
    if (!set) table.set(len, (set = new Set()));
    set.add(prefixKey(addr.toByteArray(), len));
    this.size += 1;
  }

  has(value: PreparedValue): boolean {
    if (typeof value === 'string') return false;
    const bytes = value.toByteArray();
    for (const [len, set] of this.byLen[value.kind()]) if (set.has(prefixKey(bytes, len))) return true;
    return false;
  }
}

/** Parses `a.b.c.d`, `a.b.c.d/n`, IPv6 and IPv6 CIDR entries (via `ipaddr.parseCIDR`). */
function parseIpEntry(entry: string): [IPv4 | IPv6, number] | undefined {
  const slash = entry.indexOf('/');
  const host = slash < 0 ? entry : entry.slice(0, slash);
  if (parseAddress(host) === undefined) return undefined;
  if (slash < 0) {
    const addr = parseAddress(host)!;
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  }
  if (!/^\d{1,3}$/.test(entry.slice(slash + 1))) return undefined;
  let cidr: [IPv4 | IPv6, number];
  try {
    cidr = ipaddr.parseCIDR(entry);
  } catch {
    return undefined;
  }
  const [addr, len] = cidr;
  if (addr.kind() === 'ipv6' && (addr as IPv6).isIPv4MappedAddress() && len >= 96) return [(addr as IPv6).toIPv4Address(), len - 96];
  return cidr;
}

/**
 * Compiles `entries` for `type`. Entries that are not valid for the type (a bad address or CIDR, a
 * regex that does not compile or cannot run in linear time) are skipped and passed to `onInvalid`.
 * REGEX entries are JavaScript regular expressions matched unanchored, as Istio does (write `^...$`
 * for a whole-value match), on V8's linear-time engine; values longer than `MAX_REGEX_INPUT` never match.
 */
export function compileList(type: EntryType, entries: readonly string[], onInvalid: (entry: string, reason: string) => void): ListMatcher {
  switch (type) {
    case 'STRINGS':
    case 'CASE_INSENSITIVE_STRINGS': {
      const set = new Set(type === 'STRINGS' ? entries : entries.map((e) => e.toLowerCase()));
      return { size: set.size, has: (v) => typeof v === 'string' && set.has(v) };
    }
    case 'IP_ADDRESSES': {
      const m = new IpMatcher();
      for (const e of entries) {
        const parsed = parseIpEntry(e);
        if (parsed) m.add(parsed[0], parsed[1]);
        else onInvalid(e, 'is not an IP address or CIDR');
      }
      return m;
    }
    case 'REGEX': {
      const res: RegExp[] = [];
      for (const e of entries) {
        try {
          res.push(compileLinearRegex(e));
        } catch (err) {
          onInvalid(e, `cannot be used: ${(err as Error).message}`);
        }
      }
      return { size: res.length, has: (v) => typeof v === 'string' && v.length <= MAX_REGEX_INPUT && res.some((re) => re.test(v)) };
    }
  }
}
