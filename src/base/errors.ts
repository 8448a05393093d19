/**
 * Typed errors with stable codes. Every error a client or operator can see is one of these;
 * `docs/errors.md` lists every code and a unit test keeps the two in step.
 */

/** One problem inside a larger request or config: where it is and what is wrong. */
export interface ErrorDetail {
  /** Path to the offending item, e.g. `attributes[3].response.code` or `rules/deny.yaml:12 spec.match`. */
  field: string;
  reason: string;
}

/** Stable error codes, mapped to an HTTP status in one place ({@link httpStatusOf}). */
export const ERROR_CODES = {
  MIXER_ERR_BAD_JSON: 400,
  MIXER_ERR_BAD_REQUEST: 400,
  MIXER_ERR_ATTRIBUTE_UNKNOWN: 400,
  MIXER_ERR_ATTRIBUTE_TYPE: 400,
  MIXER_ERR_TOO_MANY_ATTRIBUTES: 400,
  MIXER_ERR_UNKNOWN_QUOTA: 400,
  MIXER_ERR_EMPTY_BATCH: 400,
  MIXER_ERR_UNAUTHORIZED: 401,
  MIXER_ERR_API_DISABLED: 403,
  MIXER_ERR_FORBIDDEN: 403,
  MIXER_ERR_CLIENT_CERT_REQUIRED: 401,
  MIXER_ERR_NOT_FOUND: 404,
  MIXER_ERR_METHOD_NOT_ALLOWED: 405,
  MIXER_ERR_CONFLICT: 409,
  MIXER_ERR_BODY_TOO_LARGE: 413,
  MIXER_ERR_BATCH_TOO_LARGE: 413,
  MIXER_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  MIXER_ERR_TOO_MANY_TAPS: 429,
  MIXER_ERR_CONFIG_INVALID: 400,
  MIXER_ERR_QUEUE_UNAVAILABLE: 503,
  MIXER_ERR_NOT_READY: 503,
  MIXER_ERR_CONFIG_STORE_UNAVAILABLE: 503,
  MIXER_ERR_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base of every Mixer error. `retryable` says whether trying again can help. */
export class MixerError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[];
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { details?: ErrorDetail[]; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MixerError';
    this.code = code;
    this.details = opts.details ?? [];
    this.retryable = opts.retryable ?? false;
  }

  /** The JSON body of an HTTP error answer. */
  toJSON(): { error: { code: ErrorCode; message: string; details: readonly ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** HTTP status for an error code. */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/** Wraps anything thrown into a MixerError (unknown errors become MIXER_ERR_INTERNAL). */
export function asMixerError(err: unknown): MixerError {
  if (err instanceof MixerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MixerError('MIXER_ERR_INTERNAL', message, { cause: err, retryable: true });
}

/** Thrown for config that fails validation; carries every problem found, each with file and path. */
export class ConfigError extends MixerError {
  constructor(message: string, details: ErrorDetail[]) {
    super('MIXER_ERR_CONFIG_INVALID', message, { details });
    this.name = 'ConfigError';
  }
}
