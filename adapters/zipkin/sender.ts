import { PermanentError } from '../../src/sdk/adapter';

/** Longest piece of a Zipkin error answer quoted in an error message. */
const MAX_QUOTED = 200;

/** A POST that did not arrive but may on a later try (the core retries it with backoff). */
export class ZipkinSendError extends Error {
  constructor(
    message: string,
    /** HTTP status answered, or undefined when no answer came (network error, timeout, abort). */
    readonly status?: number,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = 'ZipkinSendError';
  }
}

/** True for answers a retry may fix: 408 Request Timeout, 429 Too Many Requests, every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

async function answerText(res: Response): Promise<string> {
  try {
    const t = (await res.text()).trim();
    return t.length > MAX_QUOTED ? `${t.slice(0, MAX_QUOTED)}…` : t;
  } catch {
    return '';
  }
}

/**
 * POSTs encoded Zipkin v2 spans (each one JSON object text) as one JSON array to `endpoint` and
 * resolves once Zipkin has accepted them (any 2xx).
 *
 * @param timeoutMs the whole exchange, answer included, must finish within this many ms.
 * @param cancel aborts the POST early (the handler closing); the result is then a retryable error.
 * @throws ZipkinSendError (retryable) on 408, 429, 5xx, a network error, the timeout or `cancel`;
 *   {@link PermanentError} on any other answer (4xx: Zipkin will never take this body).
 */
export async function postSpans(endpoint: string, encoded: readonly string[], timeoutMs: number, cancel?: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMs);
  // Linked by hand rather than with AbortSignal.any, so nothing stays attached to the long-lived `cancel`.
  const linked = new AbortController();
  const abort = (): void => linked.abort();
  timeout.addEventListener('abort', abort, { once: true });
  cancel?.addEventListener('abort', abort, { once: true });
  if (cancel?.aborted) linked.abort();
  try {
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `[${encoded.join(',')}]`,
        signal: linked.signal,
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : cancel?.aborted ? 'the handler closed' : describeNetworkError(err);
      throw new ZipkinSendError(`zipkin: POST ${endpoint} of ${encoded.length} span(s) failed: ${why}`, undefined, { cause: err });
    }
    await settle(res, endpoint, encoded.length);
  } finally {
    timeout.removeEventListener('abort', abort);
    cancel?.removeEventListener('abort', abort);
  }
}

/** Resolves for a 2xx answer (its body discarded); throws the error the answer calls for. */
async function settle(res: Response, endpoint: string, count: number): Promise<void> {
  if (res.status >= 200 && res.status < 300) {
    await res.body?.cancel().catch(() => undefined);
    return;
  }
  const detail = await answerText(res);
  const message = `zipkin: POST ${endpoint} of ${count} span(s) answered ${res.status}${detail ? `: ${detail}` : ''}`;
  if (isRetryableStatus(res.status)) throw new ZipkinSendError(message, res.status);
  throw new PermanentError(message);
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return `${cause.code}${typeof cause.message === 'string' ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
