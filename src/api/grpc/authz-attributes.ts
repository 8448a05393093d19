/**
 * Envoy ext_authz v3 `AttributeContext` → Istio's attribute vocabulary (JSON wire forms, validated
 * afterwards by `decodeBag`). Also used by the HTTP ext_authz mode, which builds the same shape
 * from the forwarded request.
 */
import { timestampText } from './wire';
import type { ProtoTime } from './wire';

/** envoy.config.core.v3.Address as loaded. */
export interface ProtoAddress {
  socket_address?: { address?: string; port_value?: number };
  pipe?: { path?: string };
}

/** A Struct as protobufjs gives it (camelCase value names). */
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}
export interface ProtoValue {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
}

export interface Peer {
  address?: ProtoAddress;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
}

export interface AttributeContext {
  source?: Peer;
  destination?: Peer;
  request?: {
    time?: ProtoTime;
    http?: {
      id?: string;
      method?: string;
      headers?: Record<string, string>;
      header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Buffer }> };
      path?: string;
      host?: string;
      scheme?: string;
      size?: string | number;
      protocol?: string;
    };
  };
  context_extensions?: Record<string, string>;
  metadata_context?: { filter_metadata?: Record<string, ProtoStruct> };
}

/** Istio's SPIFFE id `spiffe://<trust domain>/ns/<namespace>/sa/<service account>` → namespace. */
export function namespaceOfPrincipal(principal: string): string | undefined {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/[^/]+$/.exec(principal);
  return m?.[1];
}

/** `a=b,c=d` → `{a: 'b', c: 'd'}`. */
export function parsePairs(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    if (k !== '__proto__') out[k] = part.slice(eq + 1).trim();
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The IP of a socket address when it is one (not a pipe or a name). */
function ipOf(a: ProtoAddress | undefined): { ip?: string; port?: number } {
  const s = a?.socket_address;
  if (!s?.address) return {};
  const ip = /^[\d.]+$|:/.test(s.address) ? s.address : undefined;
  return { ip, port: s.port_value };
}

/** Adds `host` derived attributes: `destination.service.host`, its first label as `.name`, and `.namespace` for `name.ns.svc...`. */
export function addServiceHost(out: Record<string, unknown>, hostHeader: string | undefined): void {
  if (!hostHeader) return;
  const host = hostHeader.replace(/:\d+$/, '').toLowerCase();
  if (host === '' || /^[\d.]+$/.test(host) || host.startsWith('[')) return;
  out['destination.service.host'] ??= host;
  const labels = host.split('.');
  out['destination.service.name'] ??= labels[0];
  if (labels.length >= 3 && labels[2] === 'svc') out['destination.service.namespace'] ??= labels[1];
}

/** Copies string fields of Istio's `istio_authn` filter metadata whose names are attributes (e.g. `request.auth.principal`). */
function addFilterMetadata(out: Record<string, unknown>, md: AttributeContext['metadata_context'], vocab: ReadonlyMap<string, string>): void {
  const fields = md?.filter_metadata?.istio_authn?.fields;
  if (!fields) return;
  for (const [name, v] of Object.entries(fields)) {
    if (vocab.get(name) === 'STRING' && typeof v.stringValue === 'string') out[name] ??= v.stringValue;
  }
}

function addPeer(out: Record<string, unknown>, side: 'source' | 'destination', peer: Peer | undefined): void {
  if (!peer) return;
  const { ip, port } = ipOf(peer.address);
  if (ip) out[`${side}.ip`] = ip;
  if (port !== undefined) out[`${side}.port`] = port;
  if (peer.principal) {
    out[`${side}.principal`] = peer.principal;
    const ns = namespaceOfPrincipal(peer.principal);
    if (ns) out[`${side}.namespace`] = ns;
  }
  if (peer.labels && Object.keys(peer.labels).length > 0) out[`${side}.labels`] = { ...peer.labels };
  // Istio workload metadata carried as labels by Istio's proxies.
  const labels = peer.labels ?? {};
  const workload = labels['service.istio.io/workload-name'] ?? labels['istio.io/workload-name'];
  if (workload) out[`${side}.workload.name`] = workload;
  if (peer.service && side === 'source') out['source.workload.name'] ??= peer.service;
}

/**
 * The attribute record of one ext_authz CheckRequest. `vocab` decides which of Istio's authn filter
 * metadata fields are copied (declared STRING names only).
 */
export function attributesOfAuthz(ctx: AttributeContext, vocab: ReadonlyMap<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  addPeer(out, 'source', ctx.source);
  addPeer(out, 'destination', ctx.destination);
  const http = ctx.request?.http;
  const time = timestampText(ctx.request?.time);
  if (time) out['request.time'] = time;
  if (http) {
    let headers = http.headers ?? {};
    if (Object.keys(headers).length === 0 && http.header_map?.headers) {
      headers = {};
      for (const h of http.header_map.headers) {
        if (!h.key) continue;
        const v = h.value ?? (h.raw_value ? Buffer.from(h.raw_value).toString('utf8') : '');
        headers[h.key.toLowerCase()] = headers[h.key.toLowerCase()] === undefined ? v : `${headers[h.key.toLowerCase()]},${v}`;
      }
    }
    if (http.method) out['request.method'] = http.method;
    if (http.path) {
      out['request.path'] = http.path;
      out['request.url_path'] = http.path.split('?')[0];
    }
    const host = http.host || headers[':authority'] || headers.host;
    if (host) out['request.host'] = host;
    if (http.scheme) out['request.scheme'] = http.scheme;
    if (http.id) out['request.id'] = http.id;
    else if (headers['x-request-id']) out['request.id'] = headers['x-request-id'];
    if (headers['user-agent']) out['request.useragent'] = headers['user-agent'];
    if (headers.referer) out['request.referer'] = headers.referer;
    const size = Number(http.size ?? 0);
    if (Number.isSafeInteger(size) && size > 0) out['request.size'] = size;
    // Labels the calling proxy put in headers, when Envoy's peer carries none (see docs/envoy.md).
    const src = parsePairs(headers['x-mixer-source-labels']);
    if (src && out['source.labels'] === undefined) out['source.labels'] = src;
    const dst = parsePairs(headers['x-mixer-destination-labels']);
    if (dst && out['destination.labels'] === undefined) out['destination.labels'] = dst;
    if (Object.keys(headers).length > 0) out['request.headers'] = headers;
    const protocol = (http.protocol ?? '').toUpperCase();
    const grpc = (headers['content-type'] ?? '').startsWith('application/grpc');
    out['context.protocol'] = grpc ? 'grpc' : protocol === 'HTTP/2' ? 'http2' : 'http';
    addServiceHost(out, host);
  }
  if (ctx.context_extensions && Object.keys(ctx.context_extensions).length > 0) out['context.extensions'] = { ...ctx.context_extensions };
  addFilterMetadata(out, ctx.metadata_context, vocab);
  return out;
}
