import { setFlagsFromString } from 'node:v8';

/**
 * Regular expressions from config (list entries, RouteRule header matches) run on V8's linear-time
 * engine (the `l` flag): matching costs O(pattern × input) whatever the pattern, so `^(a+)+$` cannot
 * stall the event loop. Patterns the engine cannot run in linear time (backreferences, lookaround,
 * counted repetitions above its limit, the `i`/`u` flags) are refused by {@link compileLinearRegex}
 * with a reason, and the config object holding them is invalid like any other.
 *
 * The engine sits behind V8's `--enable-experimental-regexp-engine`, which this module sets with
 * `v8.setFlagsFromString` the first time it compiles a pattern. The flag is read when a pattern with
 * the `l` flag is compiled, so setting it late is enough, in every process and worker thread (V8
 * flags are per process). If a future Node drops the engine, compiling fails with a clear reason
 * instead of falling back to the backtracking engine.
 */

/** Longest input, in UTF-16 code units, that a config regex is matched against. */
export const MAX_REGEX_INPUT = 4096;

/** The flag of V8's linear-time engine (a variable: linters do not know the flag). */
const LINEAR = 'l';

let available: boolean | undefined;

function engineAvailable(): boolean {
  if (available === undefined) {
    try {
      new RegExp('', LINEAR);
      available = true;
    } catch {
      setFlagsFromString('--enable-experimental-regexp-engine');
      try {
        new RegExp('', LINEAR);
        available = true;
      } catch {
        available = false;
      }
    }
  }
  return available;
}

/**
 * Compiles `source` (JavaScript syntax, no flags) for linear-time matching. Throws an Error whose
 * message says why when the pattern does not compile or cannot run in linear time.
 */
export function compileLinearRegex(source: string): RegExp {
  if (!engineAvailable()) throw new Error("this Node.js has no linear-time regular expression engine (V8's --enable-experimental-regexp-engine)");
  try {
    return new RegExp(source, LINEAR);
  } catch (err) {
    const message = (err as Error).message;
    if (/linear time/i.test(message)) {
      throw new Error(
        `cannot be matched in linear time (backreferences, lookahead/lookbehind and counted repetitions ` +
          'over a few hundred are not supported; write character classes instead of case-insensitive matching)',
        { cause: err },
      );
    }
    throw new Error(message.replace(/^Invalid regular expression: /, 'invalid regular expression: ').replace(/\/l: /, '/: '), { cause: err });
  }
}

/**
 * Tests `value` with a regex from {@link compileLinearRegex}; undefined when `value` is longer than
 * {@link MAX_REGEX_INPUT} (the caller decides what an unmatchable value means).
 */
export function testCapped(re: RegExp, value: string): boolean | undefined {
  return value.length > MAX_REGEX_INPUT ? undefined : re.test(value);
}
