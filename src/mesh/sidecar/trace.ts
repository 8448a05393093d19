/**
 * B3 propagation for proxies. On every outbound call the proxy starts a span: a child of the
 * span the app's request carries (the app forwards the `x-b3-*` headers it received, as Istio
 * asks of apps), or the root of a new trace. The same span id goes to the callee, whose sidecar
 * reports the server half of that span (Zipkin's shared span), so a trace reads
 * ingress → frontend → backend with correct parent links.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` random bytes as lowercase hex (from a pool refilled 4 KiB at a time). */
export function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The span an outbound call runs in. */
export interface SpanContext {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** The trace's sampling decision as received (`1`, `0`, `d`), if any. */
  sampled?: string;
}

/**
 * The span of an outbound call: a child of the request's B3 context (`x-b3-*`, or the single
 * `b3` header), else a new trace (no sampling decision: Mixer's tracing config decides).
 */
export function childSpan(headers: IncomingHttpHeaders): SpanContext {
  let traceId = one(headers['x-b3-traceid'])?.toLowerCase();
  let parent = one(headers['x-b3-spanid'])?.toLowerCase();
  let sampled = one(headers['x-b3-sampled']);
  if (one(headers['x-b3-flags']) === '1') sampled = 'd';
  const single = one(headers.b3);
  if (traceId === undefined && single !== undefined) {
    const parts = single.trim().toLowerCase().split('-');
    if (parts.length === 1) sampled = parts[0];
    else {
      [traceId, parent] = parts;
      if (parts[2] !== undefined) sampled = parts[2];
    }
  }
  if (sampled !== undefined && !/^(?:0|1|d|true|false)$/i.test(sampled)) sampled = undefined;
  if (traceId === undefined || !TRACE_ID.test(traceId)) return { traceId: randomHex(16), spanId: randomHex(8), sampled };
  return { traceId, spanId: randomHex(8), parentSpanId: parent !== undefined && SPAN_ID.test(parent) ? parent : undefined, sampled };
}

/** The B3 headers a proxy replaces (multi-header and single). */
export const B3_HEADERS: ReadonlySet<string> = new Set(['b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags']);

/** Writes `span` as multi-header B3 into outgoing headers (replacing any B3 headers there). */
export function setB3(out: Record<string, string | string[] | undefined>, span: SpanContext): void {
  delete out.b3;
  delete out['x-b3-flags'];
  out['x-b3-traceid'] = span.traceId;
  out['x-b3-spanid'] = span.spanId;
  if (span.parentSpanId !== undefined) out['x-b3-parentspanid'] = span.parentSpanId;
  else delete out['x-b3-parentspanid'];
  if (span.sampled !== undefined) out['x-b3-sampled'] = span.sampled === 'd' ? '1' : span.sampled;
  else delete out['x-b3-sampled'];
  if (span.sampled === 'd') out['x-b3-flags'] = '1';
}

/** Appends `span` as multi-header B3 to raw headers that hold no B3 headers (as {@link setB3} writes them). */
export function appendB3(out: string[], span: SpanContext): void {
  out.push('x-b3-traceid', span.traceId, 'x-b3-spanid', span.spanId);
  if (span.parentSpanId !== undefined) out.push('x-b3-parentspanid', span.parentSpanId);
  if (span.sampled !== undefined) out.push('x-b3-sampled', span.sampled === 'd' ? '1' : span.sampled);
  if (span.sampled === 'd') out.push('x-b3-flags', '1');
}
