/**
 * Go-style duration text (`time.ParseDuration` / `time.Duration.String`), the wire form of
 * DURATION attributes and of `validDuration` in check answers. Mixer keeps durations as
 * milliseconds (a number, fractions allowed), so both functions speak milliseconds.
 */

const NS_PER_MS = 1e6;
/** Go's bound, 2^63 ns (a positive duration must stay below it, a negative one may reach it). */
const GO_BOUND = 2n ** 63n;
/** Below this many ns a double sum cannot have crossed Go's bound; above it the bound is checked exactly. */
const SURELY_IN_RANGE_NS = 9.22e18;
/** Fraction digits beyond this carry no weight in a double; Go also stops scaling on overflow. */
const MAX_FRACTION_DIGITS = 15;

/** Nanoseconds per unit, or 0 when `s[start, end)` is not a unit Go knows. */
function unitNs(s: string, start: number, end: number): number {
  const len = end - start;
  const a = s.charCodeAt(start);
  if (len === 1) {
    if (a === 0x73 /* s */) return 1e9;
    if (a === 0x6d /* m */) return 6e10;
    if (a === 0x68 /* h */) return 3.6e12;
    return 0;
  }
  if (len !== 2 || s.charCodeAt(start + 1) !== 0x73 /* s */) return 0;
  if (a === 0x6e /* n */) return 1;
  if (a === 0x75 /* u */ || a === 0xb5 /* µ micro sign */ || a === 0x3bc /* μ greek mu */) return 1e3;
  if (a === 0x6d /* m */) return 1e6;
  return 0;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Exact range check, as Go does it in unsigned 64-bit arithmetic, for text already known to be
 * valid syntax whose double sum came near the bound (durations of about 292 years).
 */
function withinGoRange(body: string, neg: boolean): boolean {
  let total = 0n;
  for (const [, whole, frac = '', unit] of body.matchAll(/(\d*)(?:\.(\d*))?([^\d.]+)/g)) {
    const ns = BigInt(unitNs(unit, 0, unit.length));
    const v = BigInt(whole === '' ? 0 : whole);
    if (v > GO_BOUND / ns) return false;
    const digits = frac.slice(0, MAX_FRACTION_DIGITS);
    const fracNs = digits === '' ? 0 : Math.trunc(Number(digits) * (Number(ns) / 10 ** digits.length));
    total += v * ns + BigInt(fracNs);
    if (total > GO_BOUND) return false;
  }
  return neg ? total <= GO_BOUND : total < GO_BOUND;
}

/**
 * Parses Go duration syntax exactly as `time.ParseDuration` does: an optional sign, then one or
 * more `<number><unit>` terms where the number is decimal with an optional fraction (`1.5`, `.5`,
 * `1.`) and the unit is one of `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`. A bare `0` (optionally
 * signed) is the only unit-less form. No spaces, exponents or other units.
 *
 * @returns the duration in milliseconds (fractions kept, e.g. `"2us"` → 0.002), or undefined when
 *   the text is not a valid Go duration or exceeds Go's range (±2^63−1 ns, about 292 years).
 */
export function parseDuration(text: string): number | undefined {
  const n = text.length;
  const first = text.charCodeAt(0);
  const neg = first === 0x2d; /* - */
  const signLength = neg || first === 0x2b /* + */ ? 1 : 0;
  let i = signLength;
  if (i === n) return undefined;
  if (n - i === 1 && text.charCodeAt(i) === 0x30) return 0;

  let totalNs = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    if (c !== 0x2e /* . */ && !isDigit(c)) return undefined;

    let whole = 0;
    const wholeStart = i;
    while (i < n && isDigit((c = text.charCodeAt(i)))) {
      whole = whole * 10 + (c - 0x30);
      i++;
    }
    const hasWhole = i > wholeStart;

    let frac = 0;
    let scale = 1;
    let hasFrac = false;
    if (i < n && text.charCodeAt(i) === 0x2e) {
      i++;
      const fracStart = i;
      while (i < n && isDigit((c = text.charCodeAt(i)))) {
        if (i - fracStart < MAX_FRACTION_DIGITS) {
          frac = frac * 10 + (c - 0x30);
          scale *= 10;
        }
        i++;
      }
      hasFrac = i > fracStart;
    }
    if (!hasWhole && !hasFrac) return undefined;

    const unitStart = i;
    while (i < n && (c = text.charCodeAt(i)) !== 0x2e && !isDigit(c)) i++;
    if (i === unitStart) return undefined;
    const unit = unitNs(text, unitStart, i);
    if (unit === 0) return undefined;

    // Go truncates each term's fraction to whole nanoseconds.
    totalNs += whole * unit + Math.trunc(frac * (unit / scale));
  }
  if (!(totalNs < SURELY_IN_RANGE_NS) && !withinGoRange(text.slice(signLength), neg)) return undefined;
  const ms = totalNs / NS_PER_MS;
  return neg ? -ms : ms;
}

/** Digits of `value / 10^prec` after the point, trailing zeros dropped; "" when none remain. */
function fraction(value: number, prec: number): string {
  let digits = value.toString().padStart(prec, '0');
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 0x30) end--;
  digits = digits.slice(0, end);
  return digits === '' ? '' : `.${digits}`;
}

/**
 * Formats milliseconds as Go's `time.Duration.String` would: `"0s"`, `"150ms"`, `"1.5s"`,
 * `"1m30s"`, `"1h0m0s"`, `"2µs"`, `"-5s"`. The value is rounded to whole nanoseconds first.
 * `parseDuration(formatDuration(ms))` gives `ms` back (to the nanosecond).
 *
 * @throws RangeError when `ms` is not a finite number.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a duration: ${ms}`);
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  let wholeMs = Math.trunc(abs);
  let subMsNs = Math.round((abs - wholeMs) * NS_PER_MS);
  if (subMsNs >= NS_PER_MS) {
    wholeMs += 1;
    subMsNs -= NS_PER_MS;
  }
  if (wholeMs === 0 && subMsNs === 0) return '0s';

  if (wholeMs < 1000) {
    const ns = wholeMs * NS_PER_MS + subMsNs;
    if (ns < 1e3) return `${sign}${ns}ns`;
    if (ns < 1e6) return `${sign}${Math.trunc(ns / 1e3)}${fraction(ns % 1e3, 3)}µs`;
    return `${sign}${wholeMs}${fraction(subMsNs, 6)}ms`;
  }

  const totalSeconds = Math.trunc(wholeMs / 1000);
  const subSecondNs = (wholeMs % 1000) * NS_PER_MS + subMsNs;
  const seconds = `${totalSeconds % 60}${fraction(subSecondNs, 9)}s`;
  if (totalSeconds < 60) return `${sign}${seconds}`;
  const totalMinutes = Math.trunc(totalSeconds / 60);
  if (totalMinutes < 60) return `${sign}${totalMinutes}m${seconds}`;
  return `${sign}${Math.trunc(totalMinutes / 60)}h${totalMinutes % 60}m${seconds}`;
}
