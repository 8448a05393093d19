import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeBag } from '../../attributes/decode';
import type { DecodeLimits } from '../../attributes/decode';
import { formatDuration } from '../../attributes/duration';
import { MixerError } from '../../errors';
import type { ErrorDetail } from '../../errors';
import { runCheck } from '../../policy/check';
import type { CheckAnswer, CheckRequest, QuotaRequest } from '../../policy/check';
import type { ConfigStore } from '../../runtime/config-store';
import type { ThrottledLog } from '../../runtime/throttled-log';
import type { SelfMetrics } from '../../metrics/self-metrics';
import { readJsonBody, sendError, sendJson } from './respond';

export interface CheckRouteDeps {
  store: ConfigStore;
  metrics: SelfMetrics;
  log: ThrottledLog;
  limits: DecodeLimits & { maxBodyBytes: number };
  adapterTimeoutMs: number;
}

const ALLOWED = new Set(['attributes', 'quotas', 'dedupId']);

/** Validates the JSON of a check request against the live vocabulary. Throws MixerError (4xx). */
export function decodeCheckRequest(body: unknown, deps: CheckRouteDeps): CheckRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', 'check body must be a JSON object {"attributes": {...}}', { details: [{ field: 'body', reason: 'not an object' }] });
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!ALLOWED.has(k)) throw new MixerError('MIXER_ERR_BAD_REQUEST', `unknown field ${JSON.stringify(k)} in check body (expected attributes, quotas, dedupId)`, { details: [{ field: k, reason: 'unknown field' }] });
  }
  if (b.attributes === undefined) throw new MixerError('MIXER_ERR_BAD_REQUEST', 'check body needs "attributes"', { details: [{ field: 'attributes', reason: 'missing' }] });
  const bag = decodeBag(b.attributes, deps.store.current.plan.vocabulary, deps.limits, 'attributes');
  const req: CheckRequest = { bag };
  if (b.quotas !== undefined) req.quotas = decodeQuotas(b.quotas);
  if (b.dedupId !== undefined) {
    if (typeof b.dedupId !== 'string') throw new MixerError('MIXER_ERR_BAD_REQUEST', 'dedupId must be a string', { details: [{ field: 'dedupId', reason: 'not a string' }] });
    req.dedupId = b.dedupId;
  }
  return req;
}

function decodeQuotas(raw: unknown): Record<string, QuotaRequest> {
  const bad = (field: string, reason: string): never => {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `${field}: ${reason}`, { details: [{ field, reason }] as ErrorDetail[] });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('quotas', 'must be an object {name: {"amount": n}}');
  const out: Record<string, QuotaRequest> = {};
  for (const [name, q] of Object.entries(raw as Record<string, unknown>)) {
    const field = `quotas.${name}`;
    if (typeof q !== 'object' || q === null) return bad(field, 'must be an object {"amount": n}');
    const { amount, bestEffort, ...rest } = q as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) return bad(`${field}.${extra}`, 'unknown field (expected amount, bestEffort)');
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1) return bad(`${field}.amount`, 'must be a positive integer');
    if (bestEffort !== undefined && typeof bestEffort !== 'boolean') return bad(`${field}.bestEffort`, 'must be a boolean');
    out[name] = { amount, bestEffort: bestEffort as boolean | undefined };
  }
  return out;
}

/** The JSON answer of a check (durations as Go-style text). */
export function encodeCheckAnswer(a: CheckAnswer): unknown {
  const out: Record<string, unknown> = {
    status: { code: a.status.code, message: a.status.message ?? '' },
    validDuration: formatDuration(a.validDuration),
    validUseCount: a.validUseCount,
    referencedAttributes: a.referencedAttributes,
    configGeneration: a.configGeneration,
  };
  if (a.quotas) {
    const q: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(a.quotas)) q[name] = { grantedAmount: v.grantedAmount, validDuration: formatDuration(v.validDuration) };
    out.quotas = q;
  }
  return out;
}

/** `POST /v1/check`, served straight from the http listener (no router on the hot path). */
export async function handleCheck(req: IncomingMessage, res: ServerResponse, deps: CheckRouteDeps): Promise<void> {
  try {
    const body = await readJsonBody(req, deps.limits.maxBodyBytes);
    if (!deps.store.ready) throw new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet');
    const t0 = performance.now();
    const request = decodeCheckRequest(body, deps);
    const r = runCheck(deps.store.current, request, { timeoutMs: deps.adapterTimeoutMs, log: deps.log });
    const answer = r instanceof Promise ? await r : r;
    deps.metrics.checkDuration.observe((performance.now() - t0) / 1000);
    deps.metrics.checkResults.inc({ code: answer.status.code });
    sendJson(res, 200, encodeCheckAnswer(answer));
  } catch (err) {
    const e = sendError(res, err);
    deps.metrics.requestErrors.inc({ route: 'check', code: e.code });
  }
}
