/**
 * Envoy access-log service v3 entries → report bags (JSON wire forms, validated by `decodeBag`).
 * The reporting side comes from `upstream_cluster` parsed Istio-style (`outbound|port|subset|host`
 * is the client's sidecar, `inbound|port|...` the server's); the reporting workload from the
 * stream's node (see node-identity.ts).
 */
import { addServiceHost, namespaceOfPrincipal } from './authz-attributes';
import type { ProtoAddress } from './authz-attributes';
import type { Workload } from './node-identity';
import { durationText, int64, protoMs, timestampText, timestampTextOfMs } from './wire';
import type { ProtoTime } from './wire';

interface Wrapped<T> {
  value?: T;
}

interface CertProps {
  subject_alt_name?: Array<{ uri?: string; dns?: string }>;
  subject?: string;
}

/** envoy.data.accesslog.v3.AccessLogCommon as loaded (the fields Mixer reads). */
export interface AccessLogCommon {
  downstream_remote_address?: ProtoAddress;
  downstream_local_address?: ProtoAddress;
  upstream_remote_address?: ProtoAddress;
  tls_properties?: { peer_certificate_properties?: CertProps; tls_sni_hostname?: string };
  start_time?: ProtoTime;
  time_to_last_rx_byte?: ProtoTime;
  time_to_first_upstream_rx_byte?: ProtoTime;
  time_to_last_downstream_tx_byte?: ProtoTime;
  duration?: ProtoTime;
  upstream_cluster?: string;
  response_flags?: Record<string, unknown>;
  custom_tags?: Record<string, string>;
  stream_id?: string;
  access_log_type?: string;
}

export interface HttpEntry {
  common_properties?: AccessLogCommon;
  protocol_version?: string;
  request?: {
    request_method?: string;
    scheme?: string;
    authority?: string;
    path?: string;
    user_agent?: string;
    referer?: string;
    request_id?: string;
    request_headers_bytes?: string | number;
    request_body_bytes?: string | number;
    request_headers?: Record<string, string>;
  };
  response?: {
    response_code?: Wrapped<number>;
    response_headers_bytes?: string | number;
    response_body_bytes?: string | number;
    response_headers?: Record<string, string>;
  };
}

export interface TcpEntry {
  common_properties?: AccessLogCommon;
  connection_properties?: { received_bytes?: string | number; sent_bytes?: string | number };
}

/** Envoy's short response flags, by ResponseFlags field, in Envoy's order. */
const FLAGS: ReadonlyArray<[string, string]> = [
  ['failed_local_healthcheck', 'LH'],
  ['no_healthy_upstream', 'UH'],
  ['upstream_request_timeout', 'UT'],
  ['local_reset', 'LR'],
  ['upstream_remote_reset', 'UR'],
  ['upstream_connection_failure', 'UF'],
  ['upstream_connection_termination', 'UC'],
  ['upstream_overflow', 'UO'],
  ['no_route_found', 'NR'],
  ['delay_injected', 'DI'],
  ['fault_injected', 'FI'],
  ['rate_limited', 'RL'],
  ['unauthorized_details', 'UAEX'],
  ['rate_limit_service_error', 'RLSE'],
  ['downstream_connection_termination', 'DC'],
  ['upstream_retry_limit_exceeded', 'URX'],
  ['stream_idle_timeout', 'SI'],
  ['invalid_envoy_request_headers', 'IH'],
  ['downstream_protocol_error', 'DPE'],
  ['upstream_max_stream_duration_reached', 'UMSDR'],
  ['response_from_cache_filter', 'RFCF'],
  ['no_filter_config_found', 'NFCF'],
  ['duration_timeout', 'DT'],
  ['upstream_protocol_error', 'UPE'],
  ['no_cluster_found', 'NC'],
  ['overload_manager', 'OM'],
  ['dns_resolution_failure', 'DF'],
  ['downstream_remote_reset', 'DR'],
];

/** Response flags in Envoy's short form (`UH,URX`), `-` when none is set. */
export function shortFlags(flags: Record<string, unknown> | undefined): string {
  if (!flags) return '-';
  const out: string[] = [];
  for (const [field, short] of FLAGS) if (flags[field] === true || (typeof flags[field] === 'object' && flags[field] !== null)) out.push(short);
  return out.length === 0 ? '-' : out.join(',');
}

/** Istio's cluster name `direction|port|subset|host`. */
export interface IstioCluster {
  direction: 'inbound' | 'outbound';
  port?: number;
  subset: string;
  host: string;
}

/** Parses `outbound|9080|v1|reviews.default.svc.cluster.local` (or `inbound|...`); undefined for other names. */
export function parseIstioCluster(name: string | undefined): IstioCluster | undefined {
  const parts = (name ?? '').split('|');
  if (parts.length !== 4 || (parts[0] !== 'inbound' && parts[0] !== 'outbound')) return undefined;
  const port = Number(parts[1]);
  return { direction: parts[0], port: Number.isInteger(port) && port > 0 ? port : undefined, subset: parts[2], host: parts[3] };
}

function socket(a: ProtoAddress | undefined): { ip?: string; port?: number } {
  const s = a?.socket_address;
  if (!s?.address || !(/^[\d.]+$/.test(s.address) || s.address.includes(':'))) return {};
  return { ip: s.address, port: s.port_value };
}

function setWorkload(out: Record<string, unknown>, side: 'source' | 'destination', w: Workload): void {
  if (w.name) out[`${side}.name`] = w.name;
  if (w.namespace) {
    out[`${side}.namespace`] = w.namespace;
    out[`${side}.workload.namespace`] = w.namespace;
  }
  if (w.workloadName) out[`${side}.workload.name`] = w.workloadName;
  if (w.uid) out[`${side}.uid`] = w.uid;
  if (Object.keys(w.labels).length > 0) out[`${side}.labels`] = { ...w.labels };
}

/**
 * The reporting proxy's side (`source` for outbound entries, `destination` for inbound) takes its
 * principal from the proxy's verified client certificate when there is one (mutual TLS to Mixer):
 * neither the node nor a custom tag can claim another identity for it.
 */
function pinReporterPrincipal(out: Record<string, unknown>, w: Workload): void {
  if (!w.principal) return;
  out[out['context.reporter.kind'] === 'outbound' ? 'source.principal' : 'destination.principal'] = w.principal;
}

/**
 * `custom_tags` named after attributes become those attributes, typed by the manifest (a tag
 * `source.labels.app` fills one key of `source.labels`); they win over what the entry says.
 */
function addCustomTags(out: Record<string, unknown>, tags: Record<string, string> | undefined, vocab: ReadonlyMap<string, string>): void {
  for (const [k, v] of Object.entries(tags ?? {})) {
    const type = vocab.get(k);
    if (type === 'INT64' || type === 'DOUBLE') {
      const n = Number(v);
      out[k] = Number.isFinite(n) && v.trim() !== '' ? n : v; // a non-number is named by decodeBag
    } else if (type === 'BOOL') out[k] = v === 'true' ? true : v === 'false' ? false : v;
    else if (type !== undefined && type !== 'STRING_MAP') out[k] = v;
    else {
      const m = /^((?:source|destination)\.labels)\.(.+)$/.exec(k);
      if (m) out[m[1]] = { ...(out[m[1]] ?? {}), [m[2]]: v };
      else out[k] = v; // undeclared: rejected by decodeBag with its name
    }
  }
}

/** What every entry, HTTP or TCP, says: addresses, sides, workloads, TLS, flags, times. */
function commonAttributes(c: AccessLogCommon, node: Workload): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const cluster = parseIstioCluster(c.upstream_cluster);
  const kind = cluster?.direction ?? 'inbound';
  out['context.reporter.kind'] = kind;
  if (node.uid) out['context.reporter.uid'] = node.uid;
  if (node.proxyVersion) out['context.proxy_version'] = node.proxyVersion;
  const down = socket(c.downstream_remote_address);
  const local = socket(c.downstream_local_address);
  const up = socket(c.upstream_remote_address);
  const peerUri = c.tls_properties?.peer_certificate_properties?.subject_alt_name?.find((s) => s.uri)?.uri;
  if (kind === 'outbound') {
    setWorkload(out, 'source', node);
    if (node.ip) out['source.ip'] = node.ip;
    if (up.ip) out['destination.ip'] = up.ip;
    if (up.port !== undefined) out['destination.port'] = up.port;
  } else {
    setWorkload(out, 'destination', node);
    if (down.ip) out['source.ip'] = down.ip;
    if (local.ip) out['destination.ip'] = local.ip;
    if (local.port !== undefined) out['destination.port'] = local.port;
    if (peerUri) {
      out['source.principal'] = peerUri;
      const ns = namespaceOfPrincipal(peerUri);
      if (ns) out['source.namespace'] ??= ns;
    }
    out['connection.mtls'] = c.tls_properties?.peer_certificate_properties !== undefined;
  }
  if (cluster?.host) {
    out['destination.service.host'] = cluster.host;
    const labels = cluster.host.split('.');
    out['destination.service.name'] = labels[0];
    if (labels.length >= 2) out['destination.service.namespace'] = labels[1];
    if (kind === 'outbound' && cluster.subset) out['destination.labels'] = { version: cluster.subset };
  }
  if (c.tls_properties?.tls_sni_hostname) out['connection.requested_server_name'] = c.tls_properties.tls_sni_hostname;
  out['context.proxy_error_code'] = shortFlags(c.response_flags);
  const start = timestampText(c.start_time);
  if (start) {
    out['request.time'] = start;
    out['context.time'] = start;
  }
  return out;
}

function bytes(v: string | number | undefined): number {
  const n = int64(v);
  return Number.isFinite(n) ? n : 0;
}

/** One report bag of an HTTP access-log entry. */
export function attributesOfHttpEntry(e: HttpEntry, node: Workload, vocab: ReadonlyMap<string, string>): Record<string, unknown> {
  const c = e.common_properties ?? {};
  const out = commonAttributes(c, node);
  const rq = e.request ?? {};
  const rs = e.response ?? {};
  if (rq.request_method && rq.request_method !== 'METHOD_UNSPECIFIED') out['request.method'] = rq.request_method;
  if (rq.scheme) out['request.scheme'] = rq.scheme;
  if (rq.authority) {
    out['request.host'] = rq.authority;
    addServiceHost(out, rq.authority);
  }
  if (rq.path) {
    out['request.path'] = rq.path;
    out['request.url_path'] = rq.path.split('?')[0];
  }
  if (rq.user_agent) out['request.useragent'] = rq.user_agent;
  if (rq.referer) out['request.referer'] = rq.referer;
  if (rq.request_id) out['request.id'] = rq.request_id;
  if (rq.request_headers && Object.keys(rq.request_headers).length > 0) out['request.headers'] = { ...rq.request_headers };
  if (rs.response_headers && Object.keys(rs.response_headers).length > 0) out['response.headers'] = { ...rs.response_headers };
  const reqBody = bytes(rq.request_body_bytes);
  out['request.size'] = reqBody;
  out['request.total_size'] = reqBody + bytes(rq.request_headers_bytes);
  const resBody = bytes(rs.response_body_bytes);
  out['response.size'] = resBody;
  out['response.total_size'] = resBody + bytes(rs.response_headers_bytes);
  if (typeof rs.response_code?.value === 'number') out['response.code'] = rs.response_code.value;
  const total = c.time_to_last_downstream_tx_byte ?? c.duration;
  if (total) out['response.duration'] = durationText(total);
  const start = c.start_time ? protoMs(c.start_time) : undefined;
  if (start !== undefined && total) out['response.time'] = timestampTextOfMs(start + protoMs(total));
  const v = e.protocol_version;
  const grpc = (rq.request_headers?.['content-type'] ?? '').startsWith('application/grpc');
  out['context.protocol'] = grpc ? 'grpc' : v === 'HTTP2' ? 'http2' : 'http';
  addCustomTags(out, c.custom_tags, vocab); // the operator's explicit tags win
  pinReporterPrincipal(out, node);
  return out;
}

/** One report bag of a TCP access-log entry: bytes of the connection, `context.protocol` tcp. */
export function attributesOfTcpEntry(e: TcpEntry, node: Workload, vocab: ReadonlyMap<string, string>): Record<string, unknown> {
  const c = e.common_properties ?? {};
  const out = commonAttributes(c, node);
  out['context.protocol'] = 'tcp';
  out['connection.received.bytes'] = bytes(e.connection_properties?.received_bytes);
  out['connection.sent.bytes'] = bytes(e.connection_properties?.sent_bytes);
  const type = c.access_log_type;
  out['connection.event'] = type === 'TcpPeriodic' ? 'continue' : type === 'TcpUpstreamConnected' || type === 'TcpConnectionStart' ? 'open' : 'close';
  if (c.stream_id) out['connection.id'] = c.stream_id;
  if (c.duration) out['connection.duration'] = durationText(c.duration);
  addCustomTags(out, c.custom_tags, vocab);
  pinReporterPrincipal(out, node);
  return out;
}
