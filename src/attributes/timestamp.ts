/** RFC 3339 timestamps: the wire form of TIMESTAMP attributes. */

/** The number written by `count` decimal digits of `s` from `at`; -1 when one is not a digit. */
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
