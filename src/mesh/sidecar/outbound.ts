/**
 * The outbound path, shared by sidecars (the app calls another service) and the ingress (the
 * world calls a service): route rules pick a subset of the destination's instances, faults are
 * injected, B3 headers continue (or start) the trace, the caller's signed identity is attached,
 * tries are retried on 5xx and connect failures within the timeouts, and the call is reported to
 * Mixer as the client side (`context.reporter.kind: outbound`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IDENTITY_HEADER } from '../common/identity';
import type { ServiceInstance } from '../common/registry-types';
import { hasLabels } from '../../routing/select';
import type { RouteRulePlan } from '../../routing/types';
import { putRequest, putService, putWorkload } from './attributes';
import type { MutableBag } from './attributes';
import { relay, scanHeaders, tryUpstream, UpstreamError } from './forward';
import type { ProxyCore } from './core';
import { appendB3, B3_HEADERS, childSpan, setB3 } from './trace';

/** Largest request body kept in memory so it can be sent again on a retry, bytes. */
export const MAX_RETRY_BODY_BYTES = 1024 * 1024;

/** The service a request is for. */
export interface Target {
  service: string;
  namespace: string;
}

/** `backend`, `backend:8080`, `backend.shop`, `backend.shop.svc.cluster.local` → a target; undefined for no host. */
export function targetOfHost(host: string | undefined, namespace: string): Target | undefined {
  if (!host) return undefined;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  const parts = name.split('.');
  if (parts[0] === '') return undefined;
  return { service: parts[0], namespace: parts.length > 1 && parts[1] !== '' ? parts[1] : namespace };
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function pickInstance(core: ProxyCore, key: string, list: readonly ServiceInstance[], avoid: ServiceInstance | undefined): ServiceInstance {
  const n = (core.rr.get(key) ?? 0) + 1;
  core.rr.set(key, n % 1_000_000);
  let inst = list[n % list.length];
  if (avoid && inst.id === avoid.id && list.length > 1) inst = list[(n + 1) % list.length];
  return inst;
}

async function instancesOf(core: ProxyCore, t: Target): Promise<readonly ServiceInstance[]> {
  const hit = core.endpoints.cached?.(t.namespace, t.service);
  if (hit) return hit;
  try {
    return await core.endpoints.resolve(t.namespace, t.service);
  } catch {
    return [];
  }
}

/** Proxies one request to `target` and reports it; never throws. */
export async function proxyOutbound(core: ProxyCore, req: IncomingMessage, res: ServerResponse, target: Target, path: string): Promise<void> {
  const startMs = Date.now();
  const t0 = performance.now();
  core.outbound.requests++;
  const self = core.options.identity;
  // Whatever the app sent as an identity is dropped; B3 headers are read, then replaced by this call's span.
  const h = scanHeaders(req.rawHeaders, IDENTITY_HEADER, B3_HEADERS);
  const decision = core.routes.table.decide(
    { service: target.service, namespace: target.namespace, headers: h.map, path },
    { name: self.service, labels: self.labels },
  );
  const rule: RouteRulePlan | undefined = decision.rule;
  const span = childSpan(h.map);
  setB3(h.map, span);
  appendB3(h.forward, span);
  if (h.map['x-request-id'] === undefined) {
    const id = randomUUID();
    h.map['x-request-id'] = id;
    h.forward.push('x-request-id', id);
  }
  // The caller's identity: over mutual TLS its certificate (plus unsigned metadata); in plaintext the signed header, if this proxy can sign.
  let plainHeaders: string[] | undefined;
  let tlsHeaders: string[] | undefined;
  const headersFor = (tls: boolean): string[] =>
    tls
      ? (tlsHeaders ??= [...h.forward, IDENTITY_HEADER, core.peerHeader])
      : (plainHeaders ??= core.signer ? [...h.forward, IDENTITY_HEADER, core.signer.headerFor(target.namespace, target.service)] : h.forward);

  let flags = '-';
  let destination: ServiceInstance | undefined;
  // The report's bag is built once the call is over, so its cost is not part of the call's latency.
  const finish = (code: number, size: number): void => {
    const endMs = Date.now();
    const durationMs = performance.now() - t0;
    const bag: MutableBag = {};
    putWorkload(bag, 'source', self);
    putService(bag, target.service, target.namespace);
    putRequest(bag, { method: req.method ?? 'GET', path, headers: h.map, startMs });
    bag['context.reporter.kind'] = 'outbound';
    bag['context.reporter.uid'] = `kubernetes://${self.instance}.${self.namespace}`;
    if (destination) putWorkload(bag, 'destination', destination);
    core.reports.addReport(bag, { code, size, endMs, durationMs, flags });
  };
  const fail = (status: number, text: string, why: string): void => {
    flags = why;
    plain(res, status, text);
    finish(status, Buffer.byteLength(text));
  };

  const fault = rule?.fault;
  if (fault?.abort && Math.random() * 100 < fault.abort.percent) {
    core.outbound.faultsInjected++;
    req.resume();
    return fail(fault.abort.httpStatus, 'fault filter abort', 'FI');
  }
  if (fault?.delay && Math.random() * 100 < fault.delay.percent) {
    core.outbound.faultsInjected++;
    flags = 'DI';
    await new Promise((r) => setTimeout(r, fault.delay!.fixedDelayMs));
  }

  const streamed = h.chunked || h.contentLength > MAX_RETRY_BODY_BYTES;
  let body: Buffer | IncomingMessage | undefined;
  if (streamed) body = req;
  else if (h.contentLength > 0) {
    try {
      body = await readBody(req);
    } catch {
      return fail(400, 'request body could not be read', 'DC');
    }
  } else req.resume();

  // Instances are cached nearly always: no await (and no turn of the event loop) then.
  const all = core.endpoints.cached?.(target.namespace, target.service) ?? (await instancesOf(core, target));
  const candidates = all.filter((i) => hasLabels(i.labels, decision.labels));
  if (candidates.length === 0) {
    core.outbound.noUpstream++;
    return fail(
      503,
      `no healthy upstream for ${target.service}.${target.namespace}${Object.keys(decision.labels).length > 0 ? ` with labels ${JSON.stringify(decision.labels)}` : ''}`,
      'UH',
    );
  }

  const deadline = t0 + (rule?.timeoutMs ?? core.options.defaultTimeoutMs);
  const tries = 1 + (streamed ? 0 : (rule?.retries?.attempts ?? 0));
  let last: { error?: UpstreamError; status?: number } = {};
  let prev: ServiceInstance | undefined;
  const key = `${target.namespace}/${target.service}`;
  for (let attempt = 0; attempt < tries; attempt++) {
    if (attempt > 0) {
      core.outbound.retries++;
      await new Promise((r) => setTimeout(r, Math.random() * 25 * 2 ** (attempt - 1)));
    }
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    const inst = pickInstance(core, key, candidates, prev);
    prev = inst;
    const colon = inst.address.lastIndexOf(':');
    const perTry = Math.min(rule?.retries?.perTryTimeoutMs ?? remaining, remaining);
    // Auto mutual TLS: whenever this proxy has a certificate, unless the destination's PeerAuthentication says DISABLE.
    const tlsAgent = core.tlsAgent && core.mtlsMode(inst.namespace, inst.labels).mode !== 'DISABLE' ? core.tlsAgent : undefined;
    const { response } = tryUpstream({
      agent: core.agent,
      host: inst.address.slice(0, colon).replace(/^\[|\]$/g, ''),
      port: Number(inst.address.slice(colon + 1)),
      method: req.method ?? 'GET',
      path,
      headers: headersFor(tlsAgent !== undefined),
      body,
      timeoutMs: perTry,
      tls: tlsAgent ? { agent: tlsAgent, principal: inst.principal } : undefined,
    });
    let up: IncomingMessage;
    try {
      up = await response;
    } catch (err) {
      last = { error: err instanceof UpstreamError ? err : new UpstreamError('reset', String(err)) };
      continue;
    }
    const code = up.statusCode ?? 502;
    if (code >= 500 && attempt + 1 < tries && deadline - performance.now() > 0) {
      last = { status: code };
      up.resume();
      continue;
    }
    destination = inst;
    return relay(up, res, (size, complete) => {
      if (!complete) flags = 'DC';
      finish(code, size);
    });
  }
  const retried = tries > 1 ? 'URX' : '';
  if (last.status !== undefined) return fail(last.status, `upstream answered ${last.status} on every try`, retried || '-');
  if (last.error?.failure === 'timeout' || !last.error) return fail(504, 'upstream request timeout', retried || 'UT');
  return fail(
    503,
    `upstream connect error or disconnect/reset before headers: ${last.error.message}`,
    retried || (last.error.failure === 'connect' ? 'UF' : 'UC'),
  );
}
