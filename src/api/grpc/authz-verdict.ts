/**
 * A check answer as Envoy's external authorization expects it (gRPC and HTTP modes alike):
 * OK allows; PERMISSION_DENIED → 403 with the status message as body; RESOURCE_EXHAUSTED → 429;
 * UNAVAILABLE (a handler failed) → 503, or allowed when the route asks to fail open
 * (context extension `mixer.fail_open: "true"`); any other code → 403.
 */
import { Code } from '../../sdk/adapter';
import type { CheckAnswer } from '../../policy/check';

/** The context extension (per Envoy route or virtual host) that lets a failed check allow the request. */
export const FAIL_OPEN_EXTENSION = 'mixer.fail_open';

export interface AuthzVerdict {
  allowed: boolean;
  /** HTTP status Envoy sends downstream when denied (200 when allowed). */
  httpStatus: number;
  /** google.rpc code and message of the answer (the decision Mixer made). */
  code: number;
  message: string;
  /** Headers for Envoy to add: `x-mixer-status` on every denial, `x-mixer-fail-open` when a failure was let through. */
  headers: Record<string, string>;
}

const HTTP_OF: Readonly<Record<number, number>> = {
  [Code.PERMISSION_DENIED]: 403,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.UNAVAILABLE]: 503,
  [Code.UNAUTHENTICATED]: 401,
};

/** The verdict of a check answer; `extensions` are the request's context extensions. */
export function authzVerdict(a: CheckAnswer, extensions: Readonly<Record<string, string>> | undefined): AuthzVerdict {
  const code = a.status.code;
  const message = a.status.message ?? '';
  if (code === Code.OK) return { allowed: true, httpStatus: 200, code, message, headers: {} };
  if (code === Code.UNAVAILABLE && extensions?.[FAIL_OPEN_EXTENSION] === 'true') {
    return { allowed: true, httpStatus: 200, code: Code.OK, message: `fail-open: ${message}`, headers: { 'x-mixer-fail-open': message.slice(0, 200) } };
  }
  return { allowed: false, httpStatus: HTTP_OF[code] ?? 403, code, message, headers: { 'x-mixer-status': `${code}` } };
}
