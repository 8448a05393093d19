import fc from 'fast-check';

/** A call slower than this is a hang (the bound for one fuzzed input). */
export const HANG_MS = 100;

/**
 * fast-check parameters for one fuzz property: a fixed seed (override with `FUZZ_SEED`) and a fixed
 * number of runs (scale with `FUZZ_RUNS_FACTOR`, e.g. 10 for a long local run), so a run is bounded
 * and repeatable. fast-check prints the seed and the shrunk counterexample on failure; `endOnFailure`
 * keeps shrinking short.
 */
export function fuzzParams<T>(runs: number, seed = 20261205): fc.Parameters<T> {
  const factor = Number(process.env.FUZZ_RUNS_FACTOR ?? '1');
  const envSeed = process.env.FUZZ_SEED;
  return {
    seed: envSeed !== undefined ? Number(envSeed) : seed,
    numRuns: Math.max(1, Math.round(runs * (Number.isFinite(factor) && factor > 0 ? factor : 1))),
    endOnFailure: true,
  };
}

/** Tries of one input before a slow call is called a hang. */
const TRIES = 3;

/**
 * Runs `call` and fails when it takes more than `boundMs` ({@link HANG_MS} by default) on each of three
 * tries of the same input. A hang is behaviour and happens again on the same input; a slow call on a
 * busy shared 2-core machine (GC, the scheduler) does not happen three times in a row. `boundMs` is
 * for calls that do more by contract (a config PUT reloads the config). Returns the call's result.
 */
export async function withinHangBound<T>(what: string, call: () => Promise<T> | T, boundMs = HANG_MS): Promise<T> {
  const times: string[] = [];
  for (;;) {
    const t0 = performance.now();
    const out = await call();
    const ms = performance.now() - t0;
    if (ms <= boundMs) return out;
    times.push(ms.toFixed(1));
    if (times.length === TRIES) throw new Error(`${what} took ${times.join(', ')} ms (${TRIES} tries over ${boundMs} ms): a hang`);
  }
}

/** {@link withinHangBound} for synchronous code. */
export function withinHangBoundSync<T>(what: string, call: () => T, boundMs = HANG_MS): T {
  const times: string[] = [];
  for (;;) {
    const t0 = performance.now();
    const out = call();
    const ms = performance.now() - t0;
    if (ms <= boundMs) return out;
    times.push(ms.toFixed(1));
    if (times.length === TRIES) throw new Error(`${what} took ${times.join(', ')} ms (${TRIES} tries over ${boundMs} ms): a hang`);
  }
}

/** Strings that tend to break parsers: unicode edges, control characters, quotes, brackets, long runs. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.constantFrom(
          '"',
          "'",
          '\\',
          '[',
          ']',
          '|',
          '||',
          '{',
          '}',
          '$',
          '${',
          '\u0000',
          '\r',
          '\n',
          ' ',
          'a',
          '.',
          '-',
          '1',
          'e',
          '__proto__',
          'constructor',
        ),
        {
          maxLength: 30,
        },
      )
      .map((a) => a.join('')),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '(', '[', '\\', 'é', '0'), fc.integer({ min: 1000, max: 20000 })).map(([c, n]) => c.repeat(n)) },
);
