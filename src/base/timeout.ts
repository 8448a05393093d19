/**
 * What {@link withTimeout} rejects with when time runs out. Retryable: the same call may well
 * finish in time later (a slow adapter, Redis busy for a moment).
 */
export class TimeoutError extends Error {
  readonly retryable = true;

  constructor(
    /** What timed out, as the message names it (`handler default/prom: report`). */
    readonly what: string,
    /** The limit that passed, ms. */
    readonly ms: number,
  ) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** Rejects with a {@link TimeoutError} after `ms` unless `p` settles first; the timer never outlives the race. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
