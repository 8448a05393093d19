/**
 * Exit codes of `mixctl` and the error that carries one. Every command either returns normally
 * (exit 0) or throws a {@link CliError}; `main` prints it and exits with its code.
 */

/** `mixctl` exit codes (stable: scripts depend on them). */
export const EXIT = {
  /** Done (for `check`: whatever the verdict). */
  OK: 0,
  /** Mixer answered an error (4xx/5xx other than 401/403). */
  ERROR: 1,
  /** Bad flags or arguments, or an invalid config file. */
  USAGE: 2,
  /** Mixer could not be reached (connection refused, DNS, timeout). */
  UNREACHABLE: 3,
  /** Mixer refused the call: 401 (missing or wrong admin token) or 403 (admin API off). */
  UNAUTHORIZED: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command: `message` is printed first, then each line of `lines`. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly lines: readonly string[];
  /** The HTTP status Mixer answered, when the error is an answer. */
  readonly status?: number;

  constructor(exitCode: ExitCode, message: string, lines: readonly string[] = [], status?: number) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.lines = lines;
    this.status = status;
  }
}

/** A usage error (exit 2) that names the flag or argument at fault. */
export function usageError(message: string, lines: readonly string[] = []): CliError {
  return new CliError(EXIT.USAGE, message, lines);
}
