/**
 * The inbound path of a sidecar: verify the caller's mesh identity, build the attribute bag,
 * Check with Mixer (through the cache), answer a denial with its HTTP status and message, else
 * forward to the app; then Report the request as the server side (`context.reporter.kind: inbound`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { IDENTITY_HEADER, peerFromCertificate } from '../common/identity';
import { identityOfSan } from '../common/pki';
import type { SpiffeIdentity } from '../common/pki';
import type { EffectiveMtls } from '../../routing/peer-auth';
import type { IdentityVerifier, WorkloadIdentity } from '../common/identity';
import { putRequest, putService, putWorkload } from './attributes';
import type { MutableBag } from './attributes';
import type { CheckCache, CheckVerdict } from './check-cache';
import { relay, scanHeaders, tryUpstream } from './forward';
import type { ScannedHeaders, UpstreamError } from './forward';
import type { ReportBatcher } from './report-batcher';

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
  /** Verifies the signed identity header of plaintext callers; undefined without a mesh key. */
  verifier?: IdentityVerifier;
  /**
   * With a workload certificate: this workload's mutual TLS mode now (from PeerAuthentications).
   * Unset (no CA): callers are known by the signed header only.
   */
  mtls?: () => EffectiveMtls;
  checks: CheckCache;
  reports: ReportBatcher;
  agent: Agent;
  permissive: boolean;
  timeoutMs: number;
}

/** What an allowed request's report adds to its bag (shared: never changed). */
const CACHE_HIT: MutableBag = Object.freeze({ 'check.cache_hit': true });
const CACHE_MISS: MutableBag = Object.freeze({ 'check.cache_hit': false });

/** One inbound request in flight: its bag and timing, and how it is answered and reported. */
class InboundCall {
  readonly startMs = Date.now();
  readonly t0 = performance.now();
  readonly bag: MutableBag = {};
  extra: MutableBag | undefined;

  constructor(
    readonly d: InboundDeps,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {}

  report(code: number, size: number, flags: string): void {
    this.d.reports.addReport(this.bag, { code, size, endMs: Date.now(), durationMs: performance.now() - this.t0, flags }, this.extra);
  }

  /** Answers with a proxy-made text (a refusal or an upstream failure) and reports it. */
  answer(status: number, text: string, flags: string): void {
    this.req.resume();
    if (!this.res.headersSent) this.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    this.report(status, Buffer.byteLength(text), flags);
  }
}

/** Per mutual TLS connection: its verified SPIFFE identity, and the caller last built from it with its metadata header. */
interface PeerState {
  peer: SpiffeIdentity | null;
  header?: string;
  source?: WorkloadIdentity;
}
const peers = new WeakMap<object, PeerState>();

/** The state of a verified mutual TLS connection (its certificate read once per connection). */
function peerOf(socket: TLSSocket): PeerState {
  let p = peers.get(socket);
  if (p === undefined) {
    p = { peer: (socket.authorized && identityOfSan(socket.getPeerCertificate().subjectaltname)) || null };
    peers.set(socket, p);
  }
  return p;
}

/** Who is calling (or why the call is refused), and whether over mutual TLS. */
function callerOf(
  d: InboundDeps,
  req: IncomingMessage,
  header: string | undefined,
  now: number,
): { source?: WorkloadIdentity; refusal?: string; mtls: boolean } {
  const socket = req.socket as TLSSocket;
  if (d.mtls && socket.encrypted) {
    const state = peerOf(socket);
    const peer = state.peer;
    if (!peer) return { refusal: 'the client certificate names no SPIFFE id', mtls: true };
    // A keep-alive connection carries the same caller's metadata on every request: decoded once while it does not change.
    if (state.source === undefined || state.header !== header) {
      state.source = peerFromCertificate(peer.principal, peer.namespace, peer.serviceAccount, header);
      state.header = header;
    }
    return { source: state.source, mtls: true };
  }
  const mode = d.mtls?.();
  if (mode?.mode === 'STRICT') return { refusal: `mutual TLS is required here (PeerAuthentication ${mode.ref ?? ''} STRICT): plaintext refused`, mtls: false };
  if (header !== undefined && d.verifier) {
    const r = d.verifier.verify(header, now);
    return 'error' in r ? { refusal: r.error, mtls: false } : { source: r.identity, mtls: false };
  }
  // PERMISSIVE and DISABLE take plaintext callers as they come (Istio's meaning); without the CA, --permissive says so.
  if (mode || d.permissive) return { mtls: false };
  return { refusal: 'the caller has no mesh identity: call through a sidecar or the ingress', mtls: false };
}

/** Serves one inbound request. Synchronous up to the app call when the check cache holds the verdict. */
export function handleInbound(d: InboundDeps, req: IncomingMessage, res: ServerResponse): Promise<void> | void {
  const call = new InboundCall(d, req, res);
  const h = scanHeaders(req.rawHeaders, IDENTITY_HEADER);
  const { source, refusal, mtls } = callerOf(d, req, h.taken, call.startMs);

  if (h.map['x-request-id'] === undefined) {
    const id = randomUUID();
    h.map['x-request-id'] = id;
    h.forward.push('x-request-id', id);
  }
  const path = req.url ?? '/';
  const bag = call.bag;
  if (source) putWorkload(bag, 'source', source);
  putWorkload(bag, 'destination', d.self);
  putService(bag, d.self.service, d.self.namespace);
  putRequest(bag, { method: req.method ?? 'GET', path, headers: h.map, startMs: call.startMs });
  if (mtls) bag['connection.mtls'] = true;
  bag['destination.port'] = d.appPort;
  bag['context.reporter.kind'] = 'inbound';
  bag['context.reporter.uid'] = `kubernetes://${d.self.instance}.${d.self.namespace}`;

  if (refusal) return call.answer(401, `UNAUTHENTICATED:${refusal}`, 'UAEX');
  const hit = d.checks.cached(bag);
  if (hit) return decided(call, h, path, hit);
  return d.checks.check(bag).then(
    (verdict) => decided(call, h, path, verdict),
    (err: unknown) => call.answer(500, `check failed: ${(err as Error).message}`, 'UAEX'),
  );
}

/** Answers a denial, or forwards to the app and relays its answer. */
function decided(call: InboundCall, h: ScannedHeaders, path: string, verdict: CheckVerdict): Promise<void> | void {
  const { d, req, res } = call;
  if (verdict.status.code !== 0) {
    const denial = denialOf(verdict.status.code, verdict.status.message);
    call.extra = { 'check.error_code': verdict.status.code, 'check.error_message': verdict.status.message, 'check.cache_hit': verdict.cacheHit };
    return call.answer(denial.status, denial.text, 'UAEX');
  }
  call.extra = verdict.cacheHit ? CACHE_HIT : CACHE_MISS;
  if (!h.hasBody) req.resume();
  const { response } = tryUpstream({
    agent: d.agent,
    host: d.appHost,
    port: d.appPort,
    method: req.method ?? 'GET',
    path,
    headers: h.forward,
    body: h.hasBody ? req : undefined,
    timeoutMs: d.timeoutMs,
  });
  return response.then(
    (up) => {
      const code = up.statusCode ?? 502;
      relay(up, res, (size, complete) => call.report(code, size, complete ? '-' : 'DC'));
    },
    (err: UpstreamError) => {
      if (err.failure === 'timeout') call.answer(504, 'upstream request timeout', 'UT');
      else call.answer(503, `upstream connect error or disconnect/reset before headers: ${err.message}`, err.failure === 'connect' ? 'UF' : 'UC');
    },
  );
}
