import { isSpanId, isTraceId, parseB3Single, samplingFlagOf } from './b3';
import type { B3Single, SamplingFlag } from './b3';

/** Why a span was not sent although it was sampled (the `reason` label of `mixer_zipkin_spans_dropped_total`). */
export type DropReason = 'missing_ids' | 'invalid_trace_id' | 'invalid_span_id' | 'invalid_parent_id' | 'invalid_b3' | 'invalid_timestamp';

/** The ids and sampling decision of one span, read from a `tracespan` instance. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** The trace's own decision, or undefined when it carries none (the probability sampler decides). */
  sampling?: SamplingFlag;
}

/** A context, or the trace's own "not sampled" decision, or the reason the span is unusable. */
export type ContextOutcome = { context: TraceContext } | { unsampled: true } | { dropped: DropReason };

/** A text field's value; absent, non-string and empty values are all "not present". */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Reads the ids and decision of a `tracespan` instance.
 *
 * Ids come from `traceId`/`spanId`/`parentSpanId` (multi-header B3) when either of the first two is
 * present, otherwise from the single `b3` field. The decision is the `sampled` field, else the `b3`
 * flag when `b3` is a decision alone or names the same trace; when the ids came from `b3`, its flag
 * comes first. A trace that says "not sampled" is
 * unsampled before its ids are looked at, so an unsampled request is never counted as dropped.
 * Ids are never altered: anything but lowercase hex of the right length drops the span.
 */
export function readTraceContext(fields: Readonly<Record<string, unknown>>): ContextOutcome {
  const traceId = text(fields.traceId);
  const spanId = text(fields.spanId);
  const b3Text = text(fields.b3);
  let b3: B3Single | undefined;
  let b3Invalid = false;
  if (b3Text !== undefined) {
    b3 = parseB3Single(b3Text);
    b3Invalid = b3 === undefined;
  }
  const fromMulti = traceId !== undefined || spanId !== undefined;
  const sampledField = samplingFlagOf(fields.sampled);
  let sampling: SamplingFlag | undefined;
  if (!fromMulti) sampling = b3?.sampling ?? sampledField;
  // With multi-header ids, a b3 flag counts only when it speaks of the same trace (or of none).
  else sampling = sampledField ?? (b3?.traceId === undefined || b3.traceId === traceId ? b3?.sampling : undefined);
  if (sampling === 'deny') return { unsampled: true };

  if (fromMulti) {
    if (traceId === undefined || !isTraceId(traceId)) return { dropped: traceId === undefined ? 'missing_ids' : 'invalid_trace_id' };
    if (spanId === undefined || !isSpanId(spanId)) return { dropped: spanId === undefined ? 'missing_ids' : 'invalid_span_id' };
    const parentSpanId = text(fields.parentSpanId);
    if (parentSpanId !== undefined && !isSpanId(parentSpanId)) return { dropped: 'invalid_parent_id' };
    return { context: { traceId, spanId, parentSpanId, sampling } };
  }
  if (b3Invalid) return { dropped: 'invalid_b3' };
  if (b3?.traceId === undefined || b3.spanId === undefined) return { dropped: 'missing_ids' };
  return { context: { traceId: b3.traceId, spanId: b3.spanId, parentSpanId: b3.parentSpanId, sampling } };
}
