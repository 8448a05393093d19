import * as http from 'node:http';
import * as https from 'node:https';
import { PermanentError } from '../../src/sdk';

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

/**
 * POSTs encoded Zipkin v2 spans (each one JSON object text) as one JSON array to `endpoint` and
 * resolves once Zipkin has accepted them (any 2xx). Plain `node:http` over the caller's keep-alive
 * agent rather than `fetch`: one POST per batch, and fetch's streams and signals cost several times
 * more CPU per request than the request itself.
 *
 * @param timeoutMs the whole exchange, answer included, must finish within this many ms.
 * @param cancel aborts the POST early (the handler closing); the result is then a retryable error.
 * @throws ZipkinSendError (retryable) on 408, 429, 5xx, a network error, the timeout or `cancel`;
 *   {@link PermanentError} on any other answer (4xx: Zipkin will never take this body).
 */
export function postSpans(endpoint: URL, encoded: readonly string[], timeoutMs: number, cancel?: AbortSignal, agent?: http.Agent): Promise<void> {
  const what = `zipkin: POST ${endpoint.href} of ${encoded.length} span(s)`;
  return new Promise<void>((resolve, reject) => {
    if (cancel?.aborted) return reject(new ZipkinSendError(`${what} failed: the handler closed`));
    const body = Buffer.from(`[${encoded.join(',')}]`);
    const send = endpoint.protocol === 'https:' ? https.request : http.request;
    let why: string | undefined;
    const req = send(endpoint, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } });
    const stop = (reason: string): void => {
      why ??= reason;
      req.destroy();
    };
    const onCancel = (): void => stop('the handler closed');
    const timer = setTimeout(() => stop(`no answer within ${timeoutMs} ms`), timeoutMs);
    cancel?.addEventListener('abort', onCancel, { once: true });
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
      if (err) reject(err);
      else resolve();
    };
    req.on('error', (err) => finish(new ZipkinSendError(`${what} failed: ${why ?? describeNetworkError(err)}`, undefined, { cause: err })));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      // Cut short (timeout, cancel, connection lost) before its end: a failed exchange.
      res.on('close', () => {
        if (!res.complete) finish(new ZipkinSendError(`${what} failed: ${why ?? 'the answer was cut short'}`));
      });
      if (status >= 200 && status < 300) {
        res
          .on('end', () => finish())
          .on('error', () => undefined)
          .resume();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length <= MAX_QUOTED) text += chunk;
      });
      res.on('error', () => undefined);
      res.on('end', () => {
        const t = text.trim();
        const detail = t.length > MAX_QUOTED ? `${t.slice(0, MAX_QUOTED)}…` : t;
        const message = `${what} answered ${status}${detail ? `: ${detail}` : ''}`;
        finish(isRetryableStatus(status) ? new ZipkinSendError(message, status) : new PermanentError(message));
      });
    });
    req.end(body);
  });
}

function describeNetworkError(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code} (${message})` : message;
}
