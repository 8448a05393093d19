/**
 * `istio.mixer.v1.Mixer/Check` and `/Report`: Istio 1.0–1.4 proxies, unchanged. Attributes arrive
 * compressed (see compressed.ts); answers use only the global words the client says it knows
 * (`global_word_count`), spelling out the others.
 */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { BagValues } from '../../attributes/bag';
import { MixerError } from '../../base/errors';
import { DEFAULT_VALID_DURATION_MS } from '../../policy/check';
import type { CheckAnswer, QuotaRequest } from '../../policy/check';
import { applyDelta, decodeCompressed, encodeReferenced, indexOfWords } from './compressed';
import type { CompressedAttributes } from './compressed';
import { checkAttributes, enqueueBags, reportBag } from './doors';
import type { DoorDeps } from './doors';
import { throwIfMalformed, wireSize } from './malformed';
import { globalDictionary } from './protos';
import { toServiceError } from './status';
import { toProtoDuration } from './wire';

interface V1CheckRequest {
  attributes?: CompressedAttributes;
  global_word_count?: number;
  deduplication_id?: string;
  quotas?: Record<string, { amount?: string | number; best_effort?: boolean }>;
}

interface V1ReportRequest {
  attributes?: CompressedAttributes[];
  default_words?: string[];
  global_word_count?: number;
  repeated_attributes_semantics?: string;
}

/** Answers kept by deduplication id: a retried check gets the first answer and charges no quota again. */
class DedupCache {
  private readonly answers = new Map<string, { at: number; answer: Promise<unknown> }>();
  constructor(
    private readonly ttlMs = 10_000,
    private readonly max = 10_000,
  ) {}
  get(id: string): Promise<unknown> | undefined {
    const e = this.answers.get(id);
    if (e === undefined) return undefined;
    if (Date.now() - e.at > this.ttlMs) {
      this.answers.delete(id);
      return undefined;
    }
    return e.answer;
  }
  set(id: string, answer: Promise<unknown>): void {
    if (this.answers.size >= this.max) {
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
    this.answers.set(id, { at: Date.now(), answer });
  }
}

function quotasOf(q: V1CheckRequest['quotas']): Record<string, QuotaRequest> | undefined {
  if (!q || Object.keys(q).length === 0) return undefined;
  const out: Record<string, QuotaRequest> = {};
  for (const [name, p] of Object.entries(q)) {
    const amount = Number(p?.amount ?? 0);
    if (!Number.isSafeInteger(amount) || amount < 1) {
      throw new MixerError('MIXER_ERR_BAD_REQUEST', `quotas.${name}.amount: must be a positive integer, got ${String(p?.amount)}`, {
        details: [{ field: `quotas.${name}.amount`, reason: 'must be a positive integer' }],
      });
    }
    out[name] = { amount, bestEffort: p?.best_effort === true };
  }
  return out;
}

/**
 * Istio's proxies ask for the quotas their QuotaSpecs name (e.g. `RequestCount`); a name no quota
 * instance has is granted in full, as Istio's Mixer did, instead of failing the check (the HTTP API,
 * whose callers name Mixer's own instances, refuses it with MIXER_ERR_UNKNOWN_QUOTA).
 */
function splitQuotas(
  quotas: Record<string, QuotaRequest> | undefined,
  deps: DoorDeps,
): { known: Record<string, QuotaRequest> | undefined; unknown: Record<string, QuotaRequest> } {
  const unknown: Record<string, QuotaRequest> = {};
  if (!quotas || !deps.store.ready) return { known: quotas, unknown };
  let known: Record<string, QuotaRequest> | undefined;
  for (const [name, q] of Object.entries(quotas)) {
    if (deps.store.current.quotaInstances.has(name)) (known ??= {})[name] = q;
    else unknown[name] = q;
  }
  return { known, unknown };
}

function grantUnknown(a: CheckAnswer, unknown: Record<string, QuotaRequest>): CheckAnswer {
  const names = Object.keys(unknown);
  if (names.length === 0) return a;
  const quotas = { ...a.quotas };
  for (const name of names) quotas[name] = { grantedAmount: unknown[name].amount, validDuration: DEFAULT_VALID_DURATION_MS };
  return { ...a, quotas };
}

/** The v1 CheckResponse of an answer. */
export function v1CheckResponse(a: CheckAnswer, clientWordCount: number): Record<string, unknown> {
  const index = globalIndex();
  const out: Record<string, unknown> = {
    precondition: {
      status: { code: a.status.code, message: a.status.message ?? '' },
      valid_duration: toProtoDuration(a.validDuration),
      valid_use_count: a.validUseCount,
      referenced_attributes: encodeReferenced(a.referencedAttributes, index, clientWordCount),
    },
  };
  if (a.quotas) {
    const q: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(a.quotas)) q[name] = { granted_amount: String(v.grantedAmount), valid_duration: toProtoDuration(v.validDuration) };
    out.quotas = q;
  }
  return out;
}

let index: ReadonlyMap<string, number> | undefined;
function globalIndex(): ReadonlyMap<string, number> {
  return (index ??= indexOfWords(globalDictionary()));
}

/** `Mixer/Check`. */
export function v1CheckHandler(deps: DoorDeps) {
  const dedup = new DedupCache();
  return (call: ServerUnaryCall<V1CheckRequest, unknown>, callback: sendUnaryData<unknown>): void => {
    try {
      throwIfMalformed(call.request);
      const req = call.request;
      const id = req.deduplication_id ?? '';
      const earlier = id !== '' ? dedup.get(id) : undefined;
      if (earlier) {
        earlier.then(
          (r) => callback(null, r),
          (e: unknown) => callback(toServiceError(e)),
        );
        return;
      }
      const words = globalDictionary();
      const clientWords = req.global_word_count ?? 0;
      const raw = decodeCompressed(req.attributes ?? {}, words, 'attributes');
      const { known, unknown } = splitQuotas(quotasOf(req.quotas), deps);
      const r = checkAttributes(raw, deps, { quotas: known, dedupId: id || undefined });
      const answer = Promise.resolve(r).then((a) => v1CheckResponse(grantUnknown(a, unknown), clientWords));
      if (id !== '') dedup.set(id, answer);
      answer.then(
        (resp) => callback(null, resp),
        (e: unknown) => callback(toServiceError(e)),
      );
    } catch (e) {
      callback(toServiceError(e));
    }
  };
}

/**
 * The bags of a v1 ReportRequest, validated (all or nothing), with DELTA_ENCODING (the default)
 * or INDEPENDENT_ENCODING applied and `default_words` serving bags without words of their own.
 */
export function decodeV1Report(req: V1ReportRequest, deps: DoorDeps): BagValues[] {
  const sets = req.attributes ?? [];
  if (sets.length === 0) throw new MixerError('MIXER_ERR_EMPTY_BATCH', 'report has no attributes', { details: [{ field: 'attributes', reason: 'empty' }] });
  if (sets.length > deps.limits.maxBags) {
    throw new MixerError('MIXER_ERR_BATCH_TOO_LARGE', `report has ${sets.length} attribute sets; at most ${deps.limits.maxBags} (MIXER_MAX_BAGS)`, {
      details: [{ field: 'attributes', reason: `over ${deps.limits.maxBags}` }],
    });
  }
  const delta = (req.repeated_attributes_semantics ?? 'DELTA_ENCODING') !== 'INDEPENDENT_ENCODING';
  const words = globalDictionary();
  const out = new Array<BagValues>(sets.length);
  let prev: Record<string, unknown> | undefined;
  for (let i = 0; i < sets.length; i++) {
    const where = `attributes[${i}]`;
    let raw = decodeCompressed(sets[i] ?? {}, words, where, req.default_words ?? []);
    if (delta) {
      raw = applyDelta(prev, raw);
      prev = raw;
      raw = applyDelta({}, raw); // a copy: decodeBag owns its input
    }
    out[i] = reportBag(raw, deps, where);
  }
  return out;
}

/** `Mixer/Report`: answered once the batch is kept by the queue; UNAVAILABLE when it cannot be. */
export function v1ReportHandler(deps: DoorDeps) {
  return (call: ServerUnaryCall<V1ReportRequest, unknown>, callback: sendUnaryData<unknown>): void => {
    let bags: BagValues[];
    try {
      throwIfMalformed(call.request);
      bags = decodeV1Report(call.request, deps);
    } catch (e) {
      deps.metrics.reports.inc({ result: 'rejected' });
      callback(toServiceError(e));
      return;
    }
    enqueueBags(bags, deps, wireSize(call.request)).then(
      () => callback(null, {}),
      (e: unknown) => callback(toServiceError(e)),
    );
  };
}
