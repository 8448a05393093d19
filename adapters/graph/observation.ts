/**
 * From an `edge` instance to one observed request: which nodes it joins (the node model) and what
 * it measured. Malformed fields are a {@link PermanentError}: they come from the Instance's config,
 * so retrying the same job cannot fix them.
 */
import { PermanentError, parseDuration, truncateLabelValue } from '../../src/sdk';
import type { InstanceValue } from '../../src/sdk';
import type { NodeData } from './stats';

/** One request, as the graph counts it. */
export interface Observation {
  /** `<source id> -> <target id> (<protocol>)`. */
  edgeId: string;
  protocol: string;
  source: NodeData;
  target: NodeData;
  /** When the request happened, epoch ms; undefined: when the job is applied. */
  time?: number;
  isError: boolean;
  /** Request plus response bytes. */
  bytes: number;
  mtls: boolean;
  durationMs?: number;
  /** True when a text field was cut to the handler's `maxLabelValueLength`. */
  truncated?: boolean;
  /**
   * `<request id>|<called service>`, when the request id is reported: both sides' reports of one call
   * share it. The service is part of it because apps pass x-request-id down the call chain, so one id
   * names every hop of a request (ingress → frontend, frontend → backend, ...).
   */
  requestKey?: string;
  /** Reported by the client's side (`outbound`). */
  outbound: boolean;
}

/** The node of callers Mixer cannot name (no source workload). */
export const UNKNOWN_ID = 'unknown';

function unknownNode(): NodeData {
  return { id: UNKNOWN_ID, nodeType: 'workload', namespace: 'unknown', app: '', version: '', workload: 'unknown', service: '' };
}

function bad(inst: InstanceValue, field: string, why: string): PermanentError {
  return new PermanentError(`graph: instance ${inst.name} field ${field} ${why}`);
}

function text(inst: InstanceValue, field: string): string {
  const v = inst.fields[field];
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw bad(inst, field, `must be text, got ${typeof v}`);
}

function count(inst: InstanceValue, field: string): number {
  const v = inst.fields[field];
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw bad(inst, field, `must be a number, got ${JSON.stringify(v)}`);
  // A negative size is a sidecar's nonsense value for one request, not a config error: it counts as 0
  // rather than failing (and dead-lettering) the whole batch with it.
  return n < 0 ? 0 : n;
}

function code(inst: InstanceValue): number {
  const v = inst.fields.responseCode;
  if (v === undefined || v === null || v === '') return 200;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw bad(inst, 'responseCode', `must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

function duration(inst: InstanceValue): number | undefined {
  const v = inst.fields.duration;
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined || !Number.isFinite(ms)) throw bad(inst, 'duration', `must be a duration (ms), got ${JSON.stringify(v)}`);
  // A negative duration (valid DURATION text, e.g. "-3ms") is one request's clock skew: counted, without a latency.
  return ms < 0 ? undefined : ms;
}

function time(inst: InstanceValue): number | undefined {
  const v = inst.fields.timestamp;
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw bad(inst, 'timestamp', `must be a time (epoch ms or RFC 3339), got ${JSON.stringify(v)}`);
  return ms;
}

function flag(inst: InstanceValue, field: string): boolean {
  const v = inst.fields[field];
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw bad(inst, field, `must be a boolean, got ${JSON.stringify(v)}`);
}

/**
 * The node of a workload: an `app` node (`app:<ns>/<app>/<version>`, or `app:<ns>/<app>` without a
 * version label) when it has an app label, else a `workload` node (`workload:<ns>/<name>`).
 */
function workloadNode(namespace: string, workload: string, app: string, version: string, service: string): NodeData {
  const ns = namespace || 'unknown';
  if (app) {
    const id = version ? `app:${ns}/${app}/${version}` : `app:${ns}/${app}`;
    return { id, nodeType: 'app', namespace: ns, app, version, workload, service };
  }
  return { id: `workload:${ns}/${workload}`, nodeType: 'workload', namespace: ns, app: '', version: '', workload, service };
}

/** The calling node: unknown without a source workload name. */
export function sourceNodeOf(inst: InstanceValue): NodeData {
  const workload = text(inst, 'sourceWorkloadName');
  if (!workload) return unknownNode();
  return workloadNode(text(inst, 'sourceWorkloadNamespace'), workload, text(inst, 'sourceApp'), text(inst, 'sourceVersion'), '');
}

/**
 * The called node: its workload when known (app or workload node), else the service
 * (`service:<ns>/<name>`), else unknown.
 */
export function targetNodeOf(inst: InstanceValue): NodeData {
  const service = text(inst, 'destinationServiceName');
  const serviceNs = text(inst, 'destinationServiceNamespace');
  const workload = text(inst, 'destinationWorkloadName');
  if (workload) {
    const ns = text(inst, 'destinationWorkloadNamespace') || serviceNs;
    return workloadNode(ns, workload, text(inst, 'destinationApp'), text(inst, 'destinationVersion'), service);
  }
  if (service) {
    const ns = serviceNs || 'unknown';
    return { id: `service:${ns}/${service}`, nodeType: 'service', namespace: ns, app: '', version: '', workload: '', service };
  }
  return unknownNode();
}

/** `grpc`, `tcp` or `http` (http, http2, https and anything else HTTP-like); `apiProtocol` wins. */
export function protocolOf(inst: InstanceValue): string {
  const p = (text(inst, 'apiProtocol') || text(inst, 'contextProtocol')).toLowerCase();
  if (p.startsWith('grpc')) return 'grpc';
  if (p === 'tcp') return 'tcp';
  return 'http';
}

/** `inst` with every text field cut to `maxBytes` bytes of UTF-8 (see `truncateLabelValue`), and whether one was. */
function clamped(inst: InstanceValue, maxBytes: number): { inst: InstanceValue; truncated: boolean } {
  let fields: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(inst.fields)) {
    if (typeof v !== 'string') continue;
    const cut = truncateLabelValue(v, maxBytes);
    if (cut !== v) (fields ??= { ...inst.fields })[k] = cut;
  }
  return fields ? { inst: { ...inst, fields }, truncated: true } : { inst, truncated: false };
}

/** See {@link Observation.requestKey}: the service by its first DNS label, so `backend` and `backend.shop.svc.cluster.local` agree. */
function requestKeyOf(inst: InstanceValue): string | undefined {
  const id = text(inst, 'requestId');
  if (!id) return undefined;
  const service = text(inst, 'destinationServiceName').toLowerCase();
  const dot = service.indexOf('.');
  return `${id}|${dot < 0 ? service : service.slice(0, dot)}`;
}

/**
 * Reads one `edge` instance, its text fields cut to `maxLabelValueBytes`; throws
 * {@link PermanentError} for another template or a malformed field.
 */
export function observationOf(original: InstanceValue, { maxLabelValueBytes = Infinity }: { maxLabelValueBytes?: number } = {}): Observation {
  if (original.template !== 'edge') throw new PermanentError(`graph: instance ${original.name} is a ${original.template}, not an edge`);
  const { inst, truncated } = clamped(original, maxLabelValueBytes);
  const source = sourceNodeOf(inst);
  const target = targetNodeOf(inst);
  const protocol = protocolOf(inst);
  const status = code(inst);
  return {
    edgeId: `${source.id} -> ${target.id} (${protocol})`,
    protocol,
    source,
    target,
    time: time(inst),
    isError: status >= 500 && status <= 599,
    bytes: count(inst, 'requestBytes') + count(inst, 'responseBytes'),
    mtls: flag(inst, 'mtls'),
    durationMs: duration(inst),
    ...(truncated ? { truncated } : {}),
    requestKey: requestKeyOf(inst),
    outbound: text(inst, 'reporterKind') === 'outbound',
  };
}
