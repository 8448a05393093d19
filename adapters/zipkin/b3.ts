/**
 * B3 propagation as Zipkin defines it: id syntax, sampling flags, the single `b3` header, and the
 * deterministic probability sampler used when a trace carries no decision.
 */

/** A trace's sampling decision: `accept` (sampled), `deny` (not sampled), `debug` (sampled, force storage). */
export type SamplingFlag = 'accept' | 'deny' | 'debug';

/** What a `b3` header carries: ids and a decision, or a decision alone (`0`, `1`, `d`). */
export interface B3Single {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  sampling?: SamplingFlag;
}

const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;

/** True for a Zipkin trace id: 16 or 32 lowercase hex characters, not all zero. */
export function isTraceId(id: string): boolean {
  return TRACE_ID.test(id) && !ALL_ZERO.test(id);
}

/** True for a Zipkin span id (also a parent span id): 16 lowercase hex characters, not all zero. */
export function isSpanId(id: string): boolean {
  return SPAN_ID.test(id) && !ALL_ZERO.test(id);
}

/**
 * Reads a sampling decision: `"1"`/`"true"` (any case), `1` or `true` → accept; `"0"`/`"false"`, `0`
 * or `false` → deny; `"d"` → debug. Anything else (absent, empty, unknown text) is no decision.
 */
export function samplingFlagOf(value: unknown): SamplingFlag | undefined {
  if (typeof value === 'boolean') return value ? 'accept' : 'deny';
  if (typeof value === 'number') return value === 1 ? 'accept' : value === 0 ? 'deny' : undefined;
  if (typeof value !== 'string') return undefined;
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'true':
      return 'accept';
    case '0':
    case 'false':
      return 'deny';
    case 'd':
      return 'debug';
    default:
      return undefined;
  }
}

/** The flag of the single header's sampling field: only `0`, `1` and `d` are valid there. */
function singleHeaderFlag(text: string): SamplingFlag | undefined {
  return text === '1' ? 'accept' : text === '0' ? 'deny' : text === 'd' ? 'debug' : undefined;
}

/**
 * Parses the single `b3` header: `{traceid}-{spanid}`, `{traceid}-{spanid}-{sampled}`,
 * `{traceid}-{spanid}-{sampled}-{parentspanid}`, or a decision alone (`0`, `1`, `d`).
 * Ids must be lowercase hex (trace id 16 or 32 characters, span ids 16), not all zero.
 *
 * @returns the fields found, or undefined when the text is not a valid `b3` value.
 */
export function parseB3Single(text: string): B3Single | undefined {
  const value = text.trim();
  if (value.length === 1) {
    const sampling = singleHeaderFlag(value);
    return sampling === undefined ? undefined : { sampling };
  }
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const [traceId, spanId, flag, parentSpanId] = parts;
  if (!isTraceId(traceId) || !isSpanId(spanId)) return undefined;
  const out: B3Single = { traceId, spanId };
  if (flag !== undefined) {
    const sampling = singleHeaderFlag(flag);
    if (sampling === undefined) return undefined;
    out.sampling = sampling;
  }
  if (parentSpanId !== undefined) {
    if (!isSpanId(parentSpanId)) return undefined;
    out.parentSpanId = parentSpanId;
  }
  return out;
}

const TWO_POW_52 = 2 ** 52;

/**
 * The probability sampler: true when the trace is in the sampled share `probability` (0..1).
 * Decided from the trace id alone (its low 52 bits read as a fraction of 1), so every span of a
 * trace gets the same answer on every worker. `probability` 1 keeps all, 0 none.
 *
 * @param traceId a valid trace id ({@link isTraceId}).
 */
export function sampledByProbability(traceId: string, probability: number): boolean {
  if (probability >= 1) return true;
  if (!(probability > 0)) return false;
  const low = Number.parseInt(traceId.slice(-13), 16);
  return low / TWO_POW_52 < probability;
}
