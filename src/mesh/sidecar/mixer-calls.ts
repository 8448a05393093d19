import { randomUUID } from 'node:crypto';
import type { MixerHttp } from '../mixer-client/mixer-http';
import type { AttributeBag, CheckAnswerWire, CheckTransport } from './check-cache';

/** `POST /v1/check` over `http`; anything but a 200 with a verdict rejects (the fail policy decides). */
export function checkTransport(http: MixerHttp): CheckTransport {
  return async (bag: AttributeBag) => {
    const r = await http.request('POST', '/v1/check', JSON.stringify({ attributes: bag }));
    if (r.status !== 200) throw new Error(`check answered HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    const answer = JSON.parse(r.body.toString('utf8')) as CheckAnswerWire;
    if (typeof answer?.status?.code !== 'number') throw new Error('check answer without a status');
    return answer;
  };
}

/** Why a report batch failed, and whether sending it again can help. */
export class ReportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** Mixer's HTTP status; undefined for a network error. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * `POST /v1/report` over `http` of bags already encoded as JSON text; a 4xx is permanent (bad
 * data), a 5xx or network error retryable. The error carries the status (the batcher splits a
 * batch answered 413).
 */
export function reportTransport(http: MixerHttp): (bags: readonly string[]) => Promise<void> {
  // One Idempotency-Key per batch (the batcher retries a batch with the same array; a split makes new
  // ones): a retry after a lost answer or a late 503 is delivered once.
  const keys = new WeakMap<readonly string[], string>();
  return async (bags) => {
    let status: number;
    let text = '';
    let key = keys.get(bags);
    if (key === undefined) keys.set(bags, (key = randomUUID()));
    try {
      const r = await http.request('POST', '/v1/report', `{"attributes":[${bags.join(',')}]}`, { 'idempotency-key': key }, 10_000);
      status = r.status;
      if (status !== 202) text = r.body.toString('utf8').slice(0, 300);
    } catch (err) {
      throw new ReportError((err as Error).message, true);
    }
    if (status === 202) return;
    throw new ReportError(`report answered HTTP ${status}: ${text}`, status >= 500 || status === 429, status);
  };
}
