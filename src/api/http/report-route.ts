import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BagValues } from '../../attributes/bag';
import { decodeBag } from '../../attributes/decode';
import { redactBag } from '../../attributes/redact';
import type { DecodeLimits } from '../../attributes/decode';
import { MixerError } from '../../base/errors';
import type { ConfigStore } from '../../runtime/config-store';
import type { SelfMetrics } from '../../metrics/self-metrics';
import type { ReportQueue } from '../../queue/report-queue';
import { readJsonBodySized, sendError, sendJson } from './respond';
import { reportAccepted } from '../../policy/report';

export interface ReportRouteDeps {
  store: ConfigStore;
  metrics: SelfMetrics;
  queue: ReportQueue;
  limits: DecodeLimits & { maxBodyBytes: number; maxBags: number };
  /** Header names redacted from `request.headers`/`response.headers` before a bag is queued (MIXER_REDACT_HEADERS); default the standard credentials. */
  redact?: ReadonlySet<string>;
}

/**
 * Validates a report body against the live vocabulary: every bag, all or nothing; credentials in
 * header maps are redacted (`deps.redact`). Throws MixerError naming the first bad bag's index and attribute.
 */
export function decodeReportBody(body: unknown, deps: Pick<ReportRouteDeps, 'store' | 'limits' | 'redact'>): BagValues[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', 'report body must be a JSON object {"attributes": [bag, ...]}', {
      details: [{ field: 'body', reason: 'not an object' }],
    });
  }
  const extra = Object.keys(body).find((k) => k !== 'attributes');
  if (extra !== undefined)
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `unknown field ${JSON.stringify(extra)} in report body (expected attributes)`, {
      details: [{ field: extra, reason: 'unknown field' }],
    });
  const bags = (body as { attributes?: unknown }).attributes;
  if (!Array.isArray(bags))
    throw new MixerError('MIXER_ERR_BAD_REQUEST', 'report "attributes" must be an array of bags', {
      details: [{ field: 'attributes', reason: 'not an array' }],
    });
  if (bags.length === 0) throw new MixerError('MIXER_ERR_EMPTY_BATCH', 'report has no bags', { details: [{ field: 'attributes', reason: 'empty' }] });
  if (bags.length > deps.limits.maxBags) {
    throw new MixerError('MIXER_ERR_BATCH_TOO_LARGE', `report has ${bags.length} bags; at most ${deps.limits.maxBags} (MIXER_MAX_BAGS)`, {
      details: [{ field: 'attributes', reason: `over ${deps.limits.maxBags} bags` }],
    });
  }
  const vocab = deps.store.current.plan.vocabulary;
  const out = new Array<BagValues>(bags.length);
  for (let i = 0; i < bags.length; i++) out[i] = redactBag(decodeBag(bags[i], vocab, deps.limits, `attributes[${i}]`).values, deps.redact);
  return out;
}

/** Longest `Idempotency-Key` taken. */
const MAX_IDEMPOTENCY_KEY = 200;

/**
 * The request's `Idempotency-Key` (1–200 visible ASCII characters, e.g. a UUID per batch), or
 * undefined; throws a 400 naming the header when it is malformed.
 */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_IDEMPOTENCY_KEY || !/^[\x21-\x7e]+$/.test(raw)) {
    throw new MixerError(
      'MIXER_ERR_BAD_REQUEST',
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY} visible ASCII characters (one key per batch, e.g. a UUID)`,
      {
        details: [{ field: 'header Idempotency-Key', reason: 'malformed' }],
      },
    );
  }
  return raw;
}

/**
 * `POST /v1/report`: 202 `{"accepted": n}` only once the batch is kept by the queue; 503 + Retry-After
 * when it cannot be. With an `Idempotency-Key`, sending the same batch again is safe: it is delivered once.
 */
export async function handleReport(req: IncomingMessage, res: ServerResponse, deps: ReportRouteDeps): Promise<void> {
  let count = 0;
  try {
    const { body, bytes } = await readJsonBodySized(req, deps.limits.maxBodyBytes);
    if (!deps.store.ready) throw new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet');
    const snapshot = deps.store.current;
    const bags = decodeReportBody(body, deps);
    count = bags.length;
    await deps.queue.enqueue(bags, snapshot.reportHandlers, { idempotencyKey: idempotencyKeyOf(req), bytes });
    reportAccepted(snapshot, bags);
    deps.metrics.reports.inc({ result: 'accepted' }, count);
    sendJson(res, 202, { accepted: count });
  } catch (err) {
    const e = sendError(res, err);
    deps.metrics.reports.inc({ result: e.code === 'MIXER_ERR_QUEUE_UNAVAILABLE' ? 'unavailable' : 'rejected' }, Math.max(count, 1));
    deps.metrics.requestErrors.inc({ route: 'report', code: e.code });
  }
}
