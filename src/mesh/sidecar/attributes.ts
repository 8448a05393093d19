/**
 * Attribute bags as proxies send them to Mixer, in the default vocabulary (`rules/attributes.yaml`):
 * who called whom (`source.*`, `destination.*`), the request (`request.*`), the answer
 * (`response.*`) and the reporting proxy (`context.*`). `connection.mtls` is false until the mesh
 * has mutual TLS.
 */
import { formatDuration } from '../../attributes/duration';
import { DEFAULT_REDACTED_HEADERS, redactHeaders } from '../../attributes/redact';
import type { WorkloadIdentity } from '../common/identity';
import type { ServiceInstance } from '../common/registry-types';

/** A bag being built (JSON values). */
export type MutableBag = Record<string, unknown>;

/** `name.namespace.svc.cluster.local`. */
export function serviceHost(service: string, namespace: string): string {
  return `${service}.${namespace}.svc.cluster.local`;
}

/** The attribute names of one side, written out: keys built per request (`${side}.labels`) made every store a slow one. */
const SIDES = {
  source: {
    labels: 'source.labels',
    workload: 'source.workload.name',
    workloadNamespace: 'source.workload.namespace',
    namespace: 'source.namespace',
    principal: 'source.principal',
    name: 'source.name',
    uid: 'source.uid',
  },
  destination: {
    labels: 'destination.labels',
    workload: 'destination.workload.name',
    workloadNamespace: 'destination.workload.namespace',
    namespace: 'destination.namespace',
    principal: 'destination.principal',
    name: 'destination.name',
    uid: 'destination.uid',
  },
} as const;

/** Writes `source.*` or `destination.*` for a workload instance. */
export function putWorkload(bag: MutableBag, side: 'source' | 'destination', w: WorkloadIdentity | ServiceInstance): void {
  const k = SIDES[side];
  const instance = 'instance' in w ? w.instance : w.id;
  bag[k.labels] = w.labels;
  bag[k.workload] = w.workload;
  bag[k.workloadNamespace] = w.namespace;
  bag[k.namespace] = w.namespace;
  bag[k.principal] = w.principal;
  bag[k.name] = instance;
  bag[k.uid] = `kubernetes://${instance}.${w.namespace}`;
}

/** Writes `destination.service.*`. */
export function putService(bag: MutableBag, service: string, namespace: string): void {
  bag['destination.service.name'] = service;
  bag['destination.service.namespace'] = namespace;
  bag['destination.service.host'] = serviceHost(service, namespace);
}

/** What the proxy saw of a request. */
export interface RequestFacts {
  method: string;
  /** Path with query. */
  path: string;
  headers: Record<string, string>;
  /** Epoch ms when the proxy received it. */
  startMs: number;
}

/** Writes `request.*` (and `context.protocol`, `connection.mtls`). */
export function putRequest(bag: MutableBag, r: RequestFacts): void {
  const q = r.path.indexOf('?');
  bag['request.headers'] = r.headers;
  bag['request.method'] = r.method;
  bag['request.path'] = r.path;
  bag['request.url_path'] = q === -1 ? r.path : r.path.slice(0, q);
  bag['request.scheme'] = 'http';
  bag['request.time'] = new Date(r.startMs).toISOString();
  const h = r.headers;
  if (h.host !== undefined) bag['request.host'] = h.host;
  if (h['user-agent'] !== undefined) bag['request.useragent'] = h['user-agent'];
  if (h['x-request-id'] !== undefined) bag['request.id'] = h['x-request-id'];
  if (h.referer !== undefined) bag['request.referer'] = h.referer;
  const len = Number(h['content-length']);
  if (Number.isSafeInteger(len) && len >= 0) bag['request.size'] = len;
  bag['context.protocol'] = 'http';
  bag['connection.mtls'] = false;
}

/** What came back. */
export interface ResponseFacts {
  code: number;
  /** Body bytes sent to the caller. */
  size: number;
  /** Epoch ms when the proxy finished the answer. */
  endMs: number;
  durationMs: number;
  /** Envoy-style response flags (`UH`, `UF`, `UT`, `URX`, `FI`, `UAEX`), `-` when none. */
  flags: string;
}

/** How `request.headers` goes into report bags (check bags keep the headers whole: they are not stored). */
export interface ReportHeaderPolicy {
  /** Header names whose values are replaced by `<masked>` (see src/attributes/redact.ts). */
  redact: ReadonlySet<string>;
  /** Most bytes of header names and values a report bag carries (default {@link DEFAULT_MAX_HEADER_BYTES}). */
  maxBytes: number;
}

/** Default cap on the headers of one report bag, bytes. */
export const DEFAULT_MAX_HEADER_BYTES = 8192;

/** The default policy: the standard credentials redacted, headers capped at 8 KiB. */
export const DEFAULT_REPORT_HEADERS: ReportHeaderPolicy = Object.freeze({ redact: new Set(DEFAULT_REDACTED_HEADERS), maxBytes: DEFAULT_MAX_HEADER_BYTES });

/** Appended to a header value cut to fit the cap. */
export const CUT_MARK = '...[truncated]';

/**
 * The headers a report bag carries: credentials redacted, then at most `maxBytes` of names and
 * values in arrival order; the header that crosses the cap is cut (ending in {@link CUT_MARK}) when
 * a useful part fits, the ones after it are left out. Returns `headers` itself when nothing changes;
 * `cut` counts headers cut or left out. (Node reads header bytes as latin1: one byte per character.)
 */
export function reportHeaders(
  headers: Readonly<Record<string, string>>,
  policy: ReportHeaderPolicy,
): { headers: Readonly<Record<string, string>>; cut: number } {
  const redacted = redactHeaders<string>(headers, policy.redact);
  let total = 0;
  for (const k in redacted) total += k.length + redacted[k].length;
  if (total <= policy.maxBytes) return { headers: redacted, cut: 0 };
  const out: Record<string, string> = {};
  let used = 0;
  let cut = 0;
  for (const k in redacted) {
    const v = redacted[k];
    const left = policy.maxBytes - used - k.length;
    if (cut === 0 && v.length <= left) {
      out[k] = v;
      used += k.length + v.length;
    } else {
      if (cut === 0 && left >= CUT_MARK.length + 16) {
        out[k] = v.slice(0, left - CUT_MARK.length) + CUT_MARK;
        used = policy.maxBytes;
      }
      cut += 1;
    }
  }
  return { headers: out, cut };
}

/**
 * A report bag as JSON text: the request's bag (its `request.headers` as {@link reportHeaders}
 * gives them under `policy`), then `extra` (attributes the bag does not hold), `response.*` and
 * `context.proxy_error_code`. Written as text on the bag's own encoding instead of copying the bag
 * into a new object per request (the copy cost three times the encoding). `onCut` hears how many
 * headers were cut or left out, when any were.
 */
export function reportJson(
  base: MutableBag,
  r: ResponseFacts,
  extra?: MutableBag,
  policy: ReportHeaderPolicy = DEFAULT_REPORT_HEADERS,
  onCut?: (n: number) => void,
): string {
  const h = base['request.headers'];
  if (typeof h === 'object' && h !== null) {
    const shown = reportHeaders(h as Record<string, string>, policy);
    if (shown.cut > 0) onCut?.(shown.cut);
    if (shown.headers !== h) base = { ...base, 'request.headers': shown.headers };
  }
  let tail = `"response.code":${r.code},"response.size":${r.size},"response.time":"${new Date(r.endMs).toISOString()}","response.duration":${JSON.stringify(formatDuration(Math.max(0, Math.round(r.durationMs * 1000) / 1000)))},"context.proxy_error_code":${JSON.stringify(r.flags)}`;
  if (extra) for (const k in extra) if (extra[k] !== undefined) tail += `,${JSON.stringify(k)}:${JSON.stringify(extra[k])}`;
  const head = JSON.stringify(base);
  return head === '{}' ? `{${tail}}` : `${head.slice(0, -1)},${tail}}`;
}
