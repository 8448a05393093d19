/**
 * The gRPC port under Mixer's mutual TLS: the same serving certificate and trusted roots as the
 * HTTP port, client certificates asked for, and each call's caller checked by method.
 *
 * Rotation: `grpc.ServerCredentials.createSsl` is fixed at bind time, so the credentials here are
 * grpc-js's certificate-provider credentials (`experimental.createCertificateProviderServerCredentials`).
 * The provider pushes every renewal and root change; grpc-js answers with `setSecureContext` on its
 * HTTP/2 server, which applies to connections accepted afterwards: connections already open (and
 * the calls and streams on them) keep their session, nothing is rebound or dropped.
 *
 * The handshake never refuses a client for its certificate (`rejectUnauthorized` off, as on the
 * HTTP port): the method does, so a caller without a valid mesh certificate hears UNAUTHENTICATED
 * with the reason rather than a bare handshake failure. A plaintext HTTP/2 client cannot reach a
 * method at all: its connection fails (UNAVAILABLE on its side).
 */
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { MixerError } from '../../base/errors';

/** PEM material as Mixer's listener TLS keeps it (`src/server/tls.ts`). */
export interface TlsMaterialSource {
  material(): { key: string; certChain: string; roots: string };
  /** Runs `fn` after every renewal of the serving certificate and every change of the trusted roots. */
  onChange(fn: () => void): void;
}

/** The caller of one gRPC call, from its verified client certificate. */
export interface GrpcCaller {
  /** The SPIFFE id (`spiffe://<trust domain>/ns/<ns>/sa/<sa>`). */
  principal: string;
  namespace: string;
}

/** How calls are authenticated (MIXER_CLIENT_AUTH, and how a certificate's SAN names a caller). */
export interface GrpcClientAuth {
  /** `required`: a call without a verified mesh certificate is refused UNAUTHENTICATED; `optional`: it goes through without a caller. */
  mode: 'required' | 'optional';
  /** The caller a certificate's `subjectaltname` names (exactly one SPIFFE id of the trust domain), else undefined. */
  identify(subjectAltName: string | undefined): GrpcCaller | undefined;
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdListener = grpc.experimental.IdentityCertificateUpdateListener;

/** A grpc-js certificate provider fed by Mixer's listener TLS: every change is pushed to the bound server. */
class MixerCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();

  constructor(private readonly source: TlsMaterialSource) {
    source.onChange(() => this.publish());
  }

  private ca(): grpc.experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.source.material().roots) };
  }

  private identity(): grpc.experimental.IdentityCertificateUpdate {
    const m = this.source.material();
    return { certificate: Buffer.from(m.certChain), privateKey: Buffer.from(m.key) };
  }

  private publish(): void {
    // Identity first: the new leaf with the old roots and then with the new ones are both whole contexts.
    const id = this.identity();
    for (const l of this.idListeners) l(id);
    const ca = this.ca();
    for (const l of this.caListeners) l(ca);
  }

  // Listeners hear the current material on the next microtask, not inside `add...`: grpc-js adds its
  // own context watcher only after these calls return, and an update it does not hear would leave
  // the port refusing every connection until the next renewal.
  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    queueMicrotask(() => this.caListeners.has(l) && l(this.ca()));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => this.idListeners.has(l) && l(this.identity()));
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.idListeners.delete(l);
  }
}

/** Server credentials that follow `source`: Mixer's certificate, its roots, client certificates asked for (checked per method). */
export function mtlsCredentials(source: TlsMaterialSource): grpc.ServerCredentials {
  const provider = new MixerCertificateProvider(source);
  // (identity provider, CA provider, reject unverified clients in the handshake): the CA provider makes
  // grpc-js ask for client certificates; the verdict is the method's (see `authenticate`).
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** The call surface grpc-js gives every handler (unary and streaming). */
interface WithAuthContext {
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate };
}

const callers = new WeakMap<object, GrpcCaller>();
/** Identities by certificate fingerprint: a connection's certificate is read once per call by grpc-js, the SAN parsed once. */
const byFingerprint = new Map<string, GrpcCaller | null>();
const MAX_REMEMBERED = 4096;

/** The verified caller of a call, when Mixer's gRPC port runs with TLS and the caller showed a mesh certificate. */
export function callerOf(call: object): GrpcCaller | undefined {
  return callers.get(call);
}

/**
 * Decides one call: its caller from the verified peer certificate (grpc-js reports one only when it
 * chains to a trusted root and is valid now), or a MixerError `MIXER_ERR_CLIENT_CERT_REQUIRED`
 * (UNAUTHENTICATED) when `required` and there is none. `what` names the method in the message.
 */
export function authenticate(auth: GrpcClientAuth, call: object, what: string): void {
  const ctx = (call as WithAuthContext).getAuthContext?.() ?? {};
  const cert = ctx.sslPeerCertificate;
  let caller: GrpcCaller | null | undefined;
  if (cert) {
    const key = cert.fingerprint256;
    caller = byFingerprint.get(key);
    if (caller === undefined) {
      caller = auth.identify(cert.subjectaltname) ?? null;
      if (byFingerprint.size >= MAX_REMEMBERED) byFingerprint.clear();
      byFingerprint.set(key, caller);
    }
  }
  if (caller) {
    callers.set(call, caller);
    return;
  }
  if (auth.mode !== 'required') return;
  const why = cert
    ? 'the client certificate names no SPIFFE id of the mesh'
    : 'no verified client certificate (none was presented, or it is not from the mesh CA, or it is expired or not yet valid)';
  throw new MixerError('MIXER_ERR_CLIENT_CERT_REQUIRED', `${what} needs a client certificate from the mesh CA: ${why}`);
}
