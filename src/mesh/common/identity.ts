/**
 * The caller's identity between sidecars, until mutual TLS exists: the calling sidecar (or the
 * ingress) puts `x-mesh-identity` on every outbound request, an HMAC-signed statement of who it
 * is, for which destination service, and when. The receiving sidecar verifies it and strips it
 * before the app sees it. An app cannot forge it (it has no mesh key; its own sidecar replaces
 * whatever it sends), cannot replay one against another service (the destination is signed) and
 * cannot keep one long (it is stale after {@link MAX_IDENTITY_AGE_MS}).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_CLOCK_SKEW_MS } from './mesh-key';

export const IDENTITY_HEADER = 'x-mesh-identity';
/** How long a signed identity stays valid, ms. Signers re-sign well before. */
export const MAX_IDENTITY_AGE_MS = 60_000;
/** How long a signer reuses one signature for the same destination, ms. */
const RESIGN_AFTER_MS = 10_000;

/** Who a workload instance is, as the mesh knows it. */
export interface WorkloadIdentity {
  service: string;
  namespace: string;
  /** Workload name (e.g. `backend-v1`). */
  workload: string;
  labels: Readonly<Record<string, string>>;
  /** `spiffe://cluster.local/ns/<ns>/sa/<service account>`. */
  principal: string;
  /** This instance's id (the pod name, in Kubernetes terms). */
  instance: string;
}

interface Payload {
  v: 1;
  s: string;
  n: string;
  w: string;
  l: Record<string, string>;
  p: string;
  i: string;
  /** `namespace/service` of the destination the statement is for. */
  d: string;
  /** Signed at, epoch ms. */
  t: number;
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/** Signs this workload's identity for destinations, reusing a signature for a few seconds. */
export class IdentitySigner {
  private readonly cache = new Map<string, { header: string; at: number }>();

  /** @param key the `identity` key derived from the mesh key. */
  constructor(
    private readonly key: Buffer,
    readonly self: WorkloadIdentity,
  ) {}

  /** The `x-mesh-identity` value for a call to `namespace/service`. */
  headerFor(namespace: string, service: string, now = Date.now()): string {
    const d = `${namespace}/${service}`;
    const hit = this.cache.get(d);
    if (hit && now - hit.at < RESIGN_AFTER_MS && now >= hit.at) return hit.header;
    const s = this.self;
    const payload: Payload = { v: 1, s: s.service, n: s.namespace, w: s.workload, l: { ...s.labels }, p: s.principal, i: s.instance, d, t: now };
    const text = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const header = `${text}.${mac(this.key, text)}`;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(d, { header, at: now });
    return header;
  }
}

/** The outcome of verifying a header: the caller, or why it was refused. */
export type IdentityResult = { identity: WorkloadIdentity } | { error: string };

/** Verifies identities sent to one destination; remembers good headers until they go stale. */
export class IdentityVerifier {
  private readonly good = new Map<string, { identity: WorkloadIdentity; until: number }>();
  private readonly dest: string;

  constructor(
    private readonly key: Buffer,
    namespace: string,
    service: string,
  ) {
    this.dest = `${namespace}/${service}`;
  }

  verify(header: string, now = Date.now()): IdentityResult {
    const hit = this.good.get(header);
    if (hit && now < hit.until) return { identity: hit.identity };
    const dot = header.indexOf('.');
    if (dot <= 0) return { error: 'malformed identity' };
    const text = header.slice(0, dot);
    const sig = Buffer.from(header.slice(dot + 1), 'base64url');
    const want = Buffer.from(mac(this.key, text), 'base64url');
    if (sig.length !== want.length || !timingSafeEqual(sig, want))
      return { error: 'identity signature does not verify (is MIXER_MESH_KEY the same everywhere?)' };
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Payload;
    } catch {
      return { error: 'malformed identity' };
    }
    if (p.v !== 1 || typeof p.t !== 'number') return { error: 'unknown identity version' };
    if (p.d !== this.dest) return { error: `identity was signed for ${p.d}, not ${this.dest}` };
    if (now - p.t > MAX_IDENTITY_AGE_MS || p.t - now > MAX_CLOCK_SKEW_MS) return { error: 'stale identity' };
    const identity: WorkloadIdentity = { service: p.s, namespace: p.n, workload: p.w, labels: Object.freeze({ ...p.l }), principal: p.p, instance: p.i };
    if (this.good.size > 10_000) this.good.clear();
    this.good.set(header, { identity, until: p.t + MAX_IDENTITY_AGE_MS });
    return { identity };
  }
}

/** `spiffe://cluster.local/ns/<namespace>/sa/<serviceAccount>`. */
export function principalOf(namespace: string, serviceAccount: string): string {
  return `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * Over mutual TLS the caller's principal and namespace come from its verified certificate; the
 * identity header then carries only what a certificate does not (service, workload, labels,
 * instance), unsigned: `m1.<base64url JSON>`, as Istio's peer metadata exchange. The callee takes
 * these from the authenticated peer as asserted by it; policy on identity belongs on
 * `source.principal` (see docs/security.md).
 */
export function peerMetadataHeader(self: WorkloadIdentity): string {
  return `m1.${Buffer.from(JSON.stringify({ s: self.service, w: self.workload, l: self.labels, i: self.instance })).toString('base64url')}`;
}

/** The caller of a mutual TLS connection: principal and namespace from its certificate, the rest from its metadata header (if any). */
export function peerFromCertificate(principal: string, namespace: string, serviceAccount: string, header: string | undefined): WorkloadIdentity {
  let m: { s?: unknown; w?: unknown; l?: unknown; i?: unknown } = {};
  if (header?.startsWith('m1.') && header.length < 8192) {
    try {
      m = JSON.parse(Buffer.from(header.slice(3), 'base64url').toString('utf8')) as typeof m;
    } catch {
      m = {};
    }
  }
  const str = (v: unknown, d: string): string => (typeof v === 'string' && v.length > 0 && v.length <= 253 ? v : d);
  const labels: Record<string, string> = {};
  if (m.l && typeof m.l === 'object')
    for (const [k, v] of Object.entries(m.l as Record<string, unknown>).slice(0, 64)) if (typeof v === 'string') labels[k] = v;
  return {
    service: str(m.s, serviceAccount),
    namespace,
    workload: str(m.w, serviceAccount),
    labels: Object.freeze(labels),
    principal,
    instance: str(m.i, serviceAccount),
  };
}
