import { isIPv4, isIPv6 } from 'node:net';
import { TraceId, model, option } from 'zipkin';
import { sampledByProbability } from './b3';
import { readTraceContext } from './trace-context';
import type { DropReason, TraceContext } from './trace-context';

/** What became of one `tracespan` instance. */
export type SpanOutcome = { span: model.Span } | { unsampled: true } | { dropped: DropReason };

/** Template fields whose numbers become Envoy-style size tags when present. */
const SIZE_TAGS: ReadonlyArray<readonly [field: string, tag: string]> = [
  ['requestSize', 'request_size'],
  ['responseSize', 'response_size'],
  ['requestTotalSize', 'request_total_size'],
  ['responseTotalSize', 'response_total_size'],
];

/** Epoch ms (fraction allowed) → whole epoch µs; undefined for anything but a positive finite number. */
function epochMicros(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  return Math.round(value * 1000);
}

function tagText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

/**
 * An endpoint from a service name and an IP (IPv4 into `ipv4`, IPv6 into `ipv6`); undefined when
 * neither is known. Service names are lowercased, as Zipkin expects.
 */
function endpointOf(name: unknown, ip: unknown): model.Endpoint | undefined {
  const serviceName = typeof name === 'string' && name !== '' ? name : undefined;
  const addr = typeof ip === 'string' ? ip : undefined;
  const ep = new model.Endpoint({ serviceName, ipv4: addr !== undefined && isIPv4(addr) ? addr : undefined });
  // zipkin-js models IPv4 only; the v2 JSON encoder writes every own property, so ipv6 is added as one.
  if (addr !== undefined && isIPv6(addr)) Object.assign(ep, { ipv6: addr });
  return serviceName !== undefined || (ep as { ipv4?: string }).ipv4 !== undefined || (ep as { ipv6?: string }).ipv6 !== undefined ? ep : undefined;
}

/** Sets an endpoint even when zipkin-js would call it empty (an IPv6-only endpoint). */
function setEndpoint(span: model.Span, which: 'localEndpoint' | 'remoteEndpoint', ep: model.Endpoint | undefined): void {
  if (ep !== undefined) Object.assign(span, { [which]: ep });
}

function putTags(span: model.Span, fields: Readonly<Record<string, unknown>>): void {
  const status = fields.httpStatusCode;
  if (typeof status === 'number' && Number.isInteger(status) && status > 0) {
    span.putTag('http.status_code', String(status));
    if (status >= 500) span.putTag('error', String(status));
  }
  for (const [field, tag] of SIZE_TAGS) {
    const v = fields[field];
    if (typeof v === 'number' && Number.isFinite(v)) span.putTag(tag, String(v));
  }
  const tags = fields.spanTags;
  if (typeof tags === 'object' && tags !== null) {
    for (const [k, v] of Object.entries(tags)) if (v !== undefined && v !== null) span.putTag(k, tagText(v));
  }
}

/**
 * The span name from `spanName`: without a query string or fragment (`/search?token=...` names the
 * span `/search`), since names are indexed and shown to everyone who can read traces; '' when none.
 */
function spanNameOf(v: unknown): string {
  if (typeof v !== 'string') return '';
  const cut = v.search(/[?#]/);
  return cut < 0 ? v : v.slice(0, cut);
}

function makeSpan(ctx: TraceContext, fields: Readonly<Record<string, unknown>>, startUs: number, endUs: number): model.Span {
  const client = isTrue(fields.clientSpan);
  const traceId = new TraceId({
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentId: ctx.parentSpanId === undefined ? option.None : new option.Some(ctx.parentSpanId),
    sampled: new option.Some(true),
    debug: ctx.sampling === 'debug',
    // A server span reported by a sidecar joins the span id its caller chose (it came in the request).
    shared: !client,
  });
  const span = new model.Span(traceId);
  const name = spanNameOf(fields.spanName);
  if (name !== '') span.setName(name);
  span.setKind(client ? 'CLIENT' : 'SERVER');
  span.setTimestamp(startUs);
  span.setDuration(Math.max(1, endUs - startUs));
  const source = endpointOf(fields.sourceName, fields.sourceIp);
  const destination = endpointOf(fields.destinationName, fields.destinationIp);
  setEndpoint(span, 'localEndpoint', client ? source : destination);
  setEndpoint(span, 'remoteEndpoint', client ? destination : source);
  putTags(span, fields);
  return span;
}

/**
 * Builds the Zipkin span of one `tracespan` instance, or says why there is none.
 *
 * - Ids and decision: see {@link readTraceContext}; with no decision, {@link sampledByProbability}.
 *   `debug` (`sampled: "d"`) sets the span's debug flag.
 * - Kind: `clientSpan` true (or `"true"`) → CLIENT, else SERVER (marked `shared`: it joins its caller's span id).
 * - Time: `startTime`/`endTime` are epoch ms; the span has epoch-µs `timestamp` and a `duration` of at
 *   least 1 µs. A missing or non-positive start or end drops the span (`invalid_timestamp`).
 * - Endpoints: SERVER local = destination, remote = source; CLIENT the other way round
 *   (`*Name` → `serviceName`, lowercased; `*Ip` → `ipv4` or `ipv6`).
 * - Name: `spanName` without its query string or fragment, lowercased. Tags: `http.status_code` (from a positive `httpStatusCode`), `error`
 *   (the code, when ≥ 500), `request_size`/`response_size`/`request_total_size`/`response_total_size`,
 *   then every `spanTags` entry as text (these win on a clash).
 *
 * @param sampleProbability 0..1, used only when the trace carries no decision.
 */
export function buildSpan(fields: Readonly<Record<string, unknown>>, sampleProbability: number): SpanOutcome {
  const read = readTraceContext(fields);
  if (!('context' in read)) return read;
  const ctx = read.context;
  if (ctx.sampling === undefined && !sampledByProbability(ctx.traceId, sampleProbability)) return { unsampled: true };
  const startUs = epochMicros(fields.startTime);
  const endUs = epochMicros(fields.endTime);
  if (startUs === undefined || endUs === undefined) return { dropped: 'invalid_timestamp' };
  return { span: makeSpan(ctx, fields, startUs, endUs) };
}
