/**
 * Envoy's ext_authz filter in HTTP mode: Envoy forwards the request's method, path (after its
 * `path_prefix`, here `/v1/ext-authz`) and headers; Mixer answers 200 to allow, or 403 / 429 / 503
 * with the status message as body (the mapping of the gRPC mode, see authz-verdict.ts). Any method
 * is accepted, since Envoy forwards the original one. Attributes:
 * - `request.method`, `request.path` (prefix removed), `request.host`, `request.headers`, `request.id`
 *   (x-request-id), `request.useragent`, `request.scheme` (x-forwarded-proto), `destination.service.*` from the host;
 * - `source.ip` from the first `x-forwarded-for` entry; `source.principal` from the `URI=` of
 *   `x-forwarded-client-cert` (Envoy's XFCC under mTLS);
 * - `source.labels` / `destination.labels` from `x-mixer-source-labels` / `x-mixer-destination-labels`
 *   (`app=frontend,version=v1`), headers the Envoy config adds (`authorization_request.headers_to_add`);
 * - `context.extensions` from `x-mixer-context-extensions` (same syntax), where `mixer.fail_open=true` lets a failed check allow.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { addServiceHost, namespaceOfPrincipal, parsePairs } from '../grpc/authz-attributes';
import { authzVerdict } from '../grpc/authz-verdict';
import { checkAttributes } from '../grpc/doors';
import type { DoorDeps } from '../grpc/doors';
import type { CheckAnswer } from '../../policy/check';
import { sendError } from './respond';

/** The path prefix Envoy's `http_service.path_prefix` must be set to. */
export const EXT_AUTHZ_PREFIX = '/v1/ext-authz';

/** Headers Envoy adds itself or that only steer Mixer: not part of `request.headers`. */
const MIXER_HEADERS = new Set(['x-mixer-source-labels', 'x-mixer-destination-labels', 'x-mixer-context-extensions', 'content-length']);

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** The attribute record of a forwarded request. */
export function attributesOfForwarded(req: IncomingMessage): { raw: Record<string, unknown>; extensions?: Record<string, string> } {
  const raw: Record<string, unknown> = {};
  const url = req.url ?? '/';
  const path = url.startsWith(EXT_AUTHZ_PREFIX) ? url.slice(EXT_AUTHZ_PREFIX.length) || '/' : url;
  raw['request.method'] = req.method ?? 'GET';
  raw['request.path'] = path;
  raw['request.url_path'] = path.split('?')[0];
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    const text = one(v);
    if (text !== undefined && !MIXER_HEADERS.has(k) && k !== '__proto__') headers[k] = text;
  }
  raw['request.headers'] = headers;
  const host = headers[':authority'] ?? headers.host;
  if (host) {
    raw['request.host'] = host;
    addServiceHost(raw, host);
  }
  if (headers['x-request-id']) raw['request.id'] = headers['x-request-id'];
  if (headers['user-agent']) raw['request.useragent'] = headers['user-agent'];
  if (headers['x-forwarded-proto']) raw['request.scheme'] = headers['x-forwarded-proto'];
  const xff = headers['x-forwarded-for']?.split(',')[0]?.trim();
  if (xff) raw['source.ip'] = xff;
  const uri = /(?:^|;)URI=([^;,]+)/.exec(headers['x-forwarded-client-cert'] ?? '')?.[1];
  if (uri) {
    raw['source.principal'] = uri;
    const ns = namespaceOfPrincipal(uri);
    if (ns) raw['source.namespace'] = ns;
    raw['connection.mtls'] = true;
  }
  const src = parsePairs(one(req.headers['x-mixer-source-labels']));
  if (src) raw['source.labels'] = src;
  const dst = parsePairs(one(req.headers['x-mixer-destination-labels']));
  if (dst) raw['destination.labels'] = dst;
  const extensions = parsePairs(one(req.headers['x-mixer-context-extensions']));
  if (extensions) raw['context.extensions'] = extensions;
  raw['context.protocol'] = (headers['content-type'] ?? '').startsWith('application/grpc') ? 'grpc' : 'http';
  return { raw, extensions };
}

function answer(res: ServerResponse, a: CheckAnswer, extensions: Record<string, string> | undefined): void {
  const v = authzVerdict(a, extensions);
  const body = v.allowed ? '' : v.message;
  res.writeHead(v.httpStatus, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...v.headers });
  res.end(body);
}

/** The fast route, any method, for paths under {@link EXT_AUTHZ_PREFIX}. The request body is not read. */
export function handleExtAuthz(req: IncomingMessage, res: ServerResponse, deps: DoorDeps): void {
  req.resume(); // a forwarded body (with_request_body) is not used
  try {
    const { raw, extensions } = attributesOfForwarded(req);
    const r = checkAttributes(raw, deps);
    if (r instanceof Promise) {
      r.then(
        (a) => answer(res, a, extensions),
        (e: unknown) => void sendError(res, e),
      );
      return;
    }
    answer(res, r, extensions);
  } catch (e) {
    const err = sendError(res, e);
    deps.metrics.requestErrors.inc({ route: 'ext-authz', code: err.code });
  }
}

/** Prefix routes for `createHttpServer`: `/v1/ext-authz/*`, any method. */
export function extAuthzRoutes(deps: DoorDeps): Record<string, (req: IncomingMessage, res: ServerResponse) => void> {
  return { [`${EXT_AUTHZ_PREFIX}/*`]: (req, res) => handleExtAuthz(req, res, deps) };
}
