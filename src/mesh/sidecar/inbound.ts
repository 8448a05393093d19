/**
 * The inbound path of a sidecar: verify the caller's mesh identity, build the attribute bag,
 * Check with Mixer (through the cache), answer a denial with its HTTP status and message, else
 * forward to the app; then Report the request as the server side (`context.reporter.kind: inbound`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from 'node:http';
import { IDENTITY_HEADER } from '../identity';
import type { IdentityVerifier, WorkloadIdentity } from '../identity';
import { headerMap, putRequest, putService, putWorkload, reportBag } from './attributes';
import type { MutableBag } from './attributes';
import type { CheckCache } from './check-cache';
import { endToEnd, tryUpstream } from './forward';
import type { ReportBatcher } from './report-batcher';
import { relay } from './outbound';

const CODE_NAMES: Readonly<Record<number, [name: string, http: number]>> = {
  1: ['CANCELLED', 499],
  2: ['UNKNOWN', 500],
  3: ['INVALID_ARGUMENT', 400],
  4: ['DEADLINE_EXCEEDED', 504],
  5: ['NOT_FOUND', 404],
  6: ['ALREADY_EXISTS', 409],
  7: ['PERMISSION_DENIED', 403],
  8: ['RESOURCE_EXHAUSTED', 429],
  9: ['FAILED_PRECONDITION', 400],
  10: ['ABORTED', 409],
  11: ['OUT_OF_RANGE', 400],
  12: ['UNIMPLEMENTED', 501],
  13: ['INTERNAL', 500],
  14: ['UNAVAILABLE', 503],
  15: ['DATA_LOSS', 500],
  16: ['UNAUTHENTICATED', 401],
};

/** HTTP status and body text for a non-OK google.rpc status (as Envoy maps them): 7 → 403 `PERMISSION_DENIED:<message>`. */
export function denialOf(code: number, message: string): { status: number; text: string } {
  const [name, status] = CODE_NAMES[code] ?? ['UNKNOWN', 500];
  return { status, text: `${name}:${message}` };
}

/** What the inbound path needs. */
export interface InboundDeps {
  self: WorkloadIdentity;
  appHost: string;
  appPort: number;
  verifier: IdentityVerifier;
  checks: CheckCache;
  reports: ReportBatcher;
  agent: Agent;
  permissive: boolean;
  timeoutMs: number;
}

const DROP = new Set([IDENTITY_HEADER]);

/** Serves one inbound request; never throws. */
export async function handleInbound(d: InboundDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const startMs = Date.now();
  const t0 = performance.now();
  const raw = req.headers[IDENTITY_HEADER];
  let source: WorkloadIdentity | undefined;
  let refusal: string | undefined;
  if (typeof raw === 'string') {
    const r = d.verifier.verify(raw, startMs);
    if ('error' in r) refusal = r.error;
    else source = r.identity;
  } else if (!d.permissive) refusal = 'the caller has no mesh identity: call through a sidecar or the ingress';

  const headers = endToEnd(req.headers, DROP);
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID();
  const path = req.url ?? '/';
  const bag: MutableBag = {};
  if (source) putWorkload(bag, 'source', source);
  putWorkload(bag, 'destination', d.self);
  putService(bag, d.self.service, d.self.namespace);
  putRequest(bag, { method: req.method ?? 'GET', path, headers: headerMap(headers), startMs });
  bag['destination.port'] = d.appPort;
  bag['context.reporter.kind'] = 'inbound';
  bag['context.reporter.uid'] = `kubernetes://${d.self.instance}.${d.self.namespace}`;

  const report = (code: number, size: number, flags: string, extra?: MutableBag): void => {
    d.reports.add(reportBag(extra ? { ...bag, ...extra } : bag, { code, size, endMs: Date.now(), durationMs: performance.now() - t0, flags }));
  };
  const answer = (status: number, text: string, flags: string, extra?: MutableBag): void => {
    req.resume();
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    report(status, Buffer.byteLength(text), flags, extra);
  };

  if (refusal) return answer(401, `UNAUTHENTICATED:${refusal}`, 'UAEX');
  const verdict = await d.checks.check(bag);
  if (verdict.status.code !== 0) {
    const denial = denialOf(verdict.status.code, verdict.status.message);
    return answer(denial.status, denial.text, 'UAEX', { 'check.error_code': verdict.status.code, 'check.error_message': verdict.status.message, 'check.cache_hit': verdict.cacheHit });
  }
  const extra: MutableBag = { 'check.cache_hit': verdict.cacheHit };
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody) req.resume();
  const { response, cancel } = tryUpstream({ agent: d.agent, host: d.appHost, port: d.appPort, method: req.method ?? 'GET', path, headers, body: hasBody ? req : undefined, timeoutMs: d.timeoutMs });
  let up: IncomingMessage;
  try {
    up = await response;
  } catch (err) {
    const failure = (err as { failure?: string }).failure;
    return failure === 'timeout' ? answer(504, 'upstream request timeout', 'UT', extra) : answer(503, `upstream connect error or disconnect/reset before headers: ${(err as Error).message}`, failure === 'connect' ? 'UF' : 'UC', extra);
  }
  res.on('close', () => {
    if (!res.writableFinished) cancel();
  });
  const code = up.statusCode ?? 502;
  relay(up, res, (size, complete) => report(code, size, complete ? '-' : 'DC', extra));
}
