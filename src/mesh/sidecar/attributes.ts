/**
 * Attribute bags as proxies send them to Mixer, in the default vocabulary (`rules/attributes.yaml`):
 * who called whom (`source.*`, `destination.*`), the request (`request.*`), the answer
 * (`response.*`) and the reporting proxy (`context.*`). `connection.mtls` is false until the mesh
 * has mutual TLS.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { formatDuration } from '../../attributes/duration';
import type { WorkloadIdentity } from '../identity';
import type { ServiceInstance } from '../registry/types';

/** A bag being built (JSON values). */
export type MutableBag = Record<string, unknown>;

/** `name.namespace.svc.cluster.local`. */
export function serviceHost(service: string, namespace: string): string {
  return `${service}.${namespace}.svc.cluster.local`;
}

/** Writes `source.*` or `destination.*` for a workload instance. */
export function putWorkload(bag: MutableBag, side: 'source' | 'destination', w: WorkloadIdentity | ServiceInstance): void {
  const instance = 'instance' in w ? w.instance : w.id;
  bag[`${side}.labels`] = w.labels;
  bag[`${side}.workload.name`] = w.workload;
  bag[`${side}.workload.namespace`] = w.namespace;
  bag[`${side}.namespace`] = w.namespace;
  bag[`${side}.principal`] = w.principal;
  bag[`${side}.name`] = instance;
  bag[`${side}.uid`] = `kubernetes://${instance}.${w.namespace}`;
}

/** Writes `destination.service.*`. */
export function putService(bag: MutableBag, service: string, namespace: string): void {
  bag['destination.service.name'] = service;
  bag['destination.service.namespace'] = namespace;
  bag['destination.service.host'] = serviceHost(service, namespace);
}

/** Request headers as a STRING_MAP (lower-case names, repeated values joined), minus `skip`. */
export function headerMap(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>, skip?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    if (k === skip) continue;
    const v = h[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
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

/** A report bag: the request's bag plus `response.*` and `context.proxy_error_code`. */
export function reportBag(base: MutableBag, r: ResponseFacts): MutableBag {
  return {
    ...base,
    'response.code': r.code,
    'response.size': r.size,
    'response.time': new Date(r.endMs).toISOString(),
    'response.duration': formatDuration(Math.max(0, Math.round(r.durationMs * 1000) / 1000)),
    'context.proxy_error_code': r.flags,
  };
}
