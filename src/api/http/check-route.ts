import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeBag } from '../../attributes/decode';
import type { DecodeLimits } from '../../attributes/decode';
import { formatDuration } from '../../attributes/duration';
import { MixerError } from '../../base/errors';
import type { ErrorDetail } from '../../base/errors';
import { runCheck } from '../../policy/check';
import type { CheckAnswer, CheckRequest, QuotaAnswer, QuotaRequest } from '../../policy/check';
import type { ReferencedAttribute } from '../../attributes/types';
import type { ConfigStore } from '../../runtime/config-store';
import type { ThrottledLog } from '../../base/throttled-log';
import type { SelfMetrics } from '../../metrics/self-metrics';
import { readJsonBodyThen, sendError, sendJsonTextSoon } from './respond';

export interface CheckRouteDeps {
  store: ConfigStore;
  metrics: SelfMetrics;
  log: ThrottledLog;
  limits: DecodeLimits & { maxBodyBytes: number };
  adapterTimeoutMs: number;
}

const ALLOWED = new Set(['attributes', 'quotas', 'dedupId']);
/** Longest `dedupId` a check may carry, characters (a UUID is 36). */
export const MAX_DEDUP_ID_LENGTH = 256;
/** Most quotas one check may ask for. */
export const MAX_QUOTAS_PER_CHECK = 64;

/**
 * Validates the JSON of a check request against the live vocabulary. Throws MixerError (4xx).
 * `owned`: `body` is the caller's own fresh `JSON.parse` result, so the bag may take over its
 * `attributes` object instead of copying it (see `decodeBag`); default false leaves `body` untouched.
 */
export function decodeCheckRequest(body: unknown, deps: CheckRouteDeps, owned = false): CheckRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', 'check body must be a JSON object {"attributes": {...}}', {
      details: [{ field: 'body', reason: 'not an object' }],
    });
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!ALLOWED.has(k))
      throw new MixerError('MIXER_ERR_BAD_REQUEST', `unknown field ${JSON.stringify(k)} in check body (expected attributes, quotas, dedupId)`, {
        details: [{ field: k, reason: 'unknown field' }],
      });
  }
  if (b.attributes === undefined)
    throw new MixerError('MIXER_ERR_BAD_REQUEST', 'check body needs "attributes"', { details: [{ field: 'attributes', reason: 'missing' }] });
  const bag = decodeBag(b.attributes, deps.store.current.plan.vocabulary, deps.limits, 'attributes', owned);
  const req: CheckRequest = { bag };
  if (b.quotas !== undefined) req.quotas = decodeQuotas(b.quotas);
  if (b.dedupId !== undefined) {
    if (typeof b.dedupId !== 'string')
      throw new MixerError('MIXER_ERR_BAD_REQUEST', 'dedupId must be a string', { details: [{ field: 'dedupId', reason: 'not a string' }] });
    if (b.dedupId.length > MAX_DEDUP_ID_LENGTH)
      throw new MixerError('MIXER_ERR_BAD_REQUEST', `dedupId is longer than ${MAX_DEDUP_ID_LENGTH} characters`, {
        details: [{ field: 'dedupId', reason: `${b.dedupId.length} characters, at most ${MAX_DEDUP_ID_LENGTH}` }],
      });
    req.dedupId = b.dedupId;
  }
  return req;
}

function decodeQuotas(raw: unknown): Record<string, QuotaRequest> {
  const bad = (field: string, reason: string): never => {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `${field}: ${reason}`, { details: [{ field, reason }] as ErrorDetail[] });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('quotas', 'must be an object {name: {"amount": n}}');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_QUOTAS_PER_CHECK) return bad('quotas', `asks for ${entries.length} quotas, at most ${MAX_QUOTAS_PER_CHECK}`);
  // No prototype: a quota name is never looked up on Object.prototype.
  const out = Object.create(null) as Record<string, QuotaRequest>;
  for (const [name, q] of entries) {
    const field = `quotas.${name}`;
    // JSON.parse makes "__proto__" an own key; assigning it to an object would change its prototype and drop the quota.
    if (name === '__proto__') return bad(field, 'is not a quota name');
    if (typeof q !== 'object' || q === null) return bad(field, 'must be an object {"amount": n}');
    const { amount, bestEffort, ...rest } = q as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) return bad(`${field}.${extra}`, 'unknown field (expected amount, bestEffort)');
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1) return bad(`${field}.amount`, 'must be a positive integer');
    if (bestEffort !== undefined && typeof bestEffort !== 'boolean') return bad(`${field}.bestEffort`, 'must be a boolean');
    out[name] = { amount, bestEffort: bestEffort };
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

/** `"5s"` (JSON text) by validDuration ms: handlers answer with a few fixed durations. */
const durationJson = new Map<number, string>();

function durationText(ms: number): string {
  let t = durationJson.get(ms);
  if (t === undefined) {
    t = JSON.stringify(formatDuration(ms)); // throws on a non-finite value, as encodeCheckAnswer does
    if (durationJson.size >= 256) durationJson.clear();
    durationJson.set(ms, t);
  }
  return t;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** JSON text of each referenced-attribute record; the records are shared (see TrackingReader). */
const refJson = new WeakMap<ReferencedAttribute, string>();

function referencedText(refs: readonly ReferencedAttribute[]): string {
  let out = '[';
  for (let i = 0; i < refs.length; i++) {
    const r = refs[i];
    let t = refJson.get(r);
    if (t === undefined) {
      t = JSON.stringify(r);
      if (Object.isFrozen(r)) refJson.set(r, t);
    }
    out += i === 0 ? t : `,${t}`;
  }
  return `${out}]`;
}

/** `,"quotas":{...}` or undefined when a value is unusual (then the generic encoder runs). */
function quotasText(quotas: Readonly<Record<string, QuotaAnswer>>): string | undefined {
  let out = ',"quotas":{';
  let first = true;
  for (const name in quotas) {
    if (!Object.hasOwn(quotas, name)) continue;
    const q = quotas[name];
    if (typeof q !== 'object' || q === null || !isCount(q.grantedAmount)) return undefined;
    out += `${first ? '' : ','}${JSON.stringify(name)}:{"grantedAmount":${q.grantedAmount},"validDuration":${durationText(q.validDuration)}}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * `JSON.stringify(encodeCheckAnswer(a))`, built directly for the usual answer (numbers finite, message
 * a string); anything unusual goes through `encodeCheckAnswer` so the text is the same in every case.
 */
export function encodeCheckAnswerText(a: CheckAnswer): string {
  const { code } = a.status;
  const message = a.status.message ?? '';
  const validDuration = durationText(a.validDuration); // first, as in encodeCheckAnswer: it may throw
  const quotas = a.quotas === undefined ? '' : quotasText(a.quotas);
  if (quotas === undefined || !isCount(code) || typeof message !== 'string' || !isCount(a.validUseCount) || !isCount(a.configGeneration)) {
    return JSON.stringify(encodeCheckAnswer(a));
  }
  return (
    `{"status":{"code":${code},"message":${message === '' ? '""' : JSON.stringify(message)}},"validDuration":${validDuration}` +
    `,"validUseCount":${a.validUseCount},"referencedAttributes":${referencedText(a.referencedAttributes)},"configGeneration":${a.configGeneration}${quotas}}`
  );
}

function fail(res: ServerResponse, err: unknown, deps: CheckRouteDeps): void {
  const e = sendError(res, err);
  deps.metrics.requestErrors.inc({ route: 'check', code: e.code });
}

function answer(res: ServerResponse, deps: CheckRouteDeps, t0: number, a: CheckAnswer): void {
  deps.metrics.checkDuration.observe((performance.now() - t0) / 1000);
  deps.metrics.countCheckResult(a.status.code);
  sendJsonTextSoon(res, 200, encodeCheckAnswerText(a), (err) => fail(res, err, deps));
}

/**
 * `POST /v1/check`, served straight from the http listener (no router on the hot path). When every
 * handler answers synchronously the whole check runs inside the request's `end` event (no promise,
 * no extra tick); the answer goes out in one write at the end of the event-loop turn, beside the
 * other answers of that turn (see `sendJsonTextSoon`).
 */
export function handleCheck(req: IncomingMessage, res: ServerResponse, deps: CheckRouteDeps): void {
  readJsonBodyThen(req, deps.limits.maxBodyBytes, (err, body) => {
    if (err !== undefined) return fail(res, err, deps);
    try {
      if (!deps.store.ready) throw new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet');
      const t0 = performance.now();
      const request = decodeCheckRequest(body, deps, true); // the body was parsed for this request alone
      const r = runCheck(deps.store.current, request, { timeoutMs: deps.adapterTimeoutMs, log: deps.log });
      if (r instanceof Promise) {
        r.then((a) => answer(res, deps, t0, a)).catch((e: unknown) => fail(res, e, deps));
        return;
      }
      answer(res, deps, t0, r);
    } catch (e) {
      fail(res, e, deps);
    }
  });
}
