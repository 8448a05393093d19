/**
 * How a workload gets its first certificate: a bootstrap token bound to one workload identity,
 * `hex(HMAC-SHA256(bootstrap key, "<namespace>/<service account>"))`, the bootstrap key derived from
 * the mesh key. Mixer can compute every workload's token; a workload is handed only its own (e.g. a
 * per-service-account Secret written by `mixctl kube-inject`), so it can ask for a certificate of
 * its own identity only.
 *
 * The token never travels: a sign request carries a proof, `HMAC(token, sha256(CSR PEM))`, which is
 * worth nothing for any other CSR (and so for any other key), and the CA's answer carries
 * `HMAC(token, body)` so the workload can trust the roots it receives before it trusts anything.
 * A Kubernetes service-account token can take the token's place: see {@link BootstrapAuthenticator}.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './mesh-key';

/** Header of a sign request's proof: `MeshToken <hex>`. */
export const AUTHORIZATION_SCHEME = 'MeshToken';
/** Header of the CA's answer proving it knows the workload's token. */
export const ANSWER_PROOF_HEADER = 'x-mesh-ca-proof';

/** The bootstrap token of `namespace/serviceAccount`. */
export function bootstrapToken(meshKey: string, namespace: string, serviceAccount: string): string {
  return createHmac('sha256', deriveKey(meshKey, 'bootstrap')).update(`${namespace}/${serviceAccount}`).digest('hex');
}

function mac(token: string, data: string | Buffer): Buffer {
  return createHmac('sha256', Buffer.from(token, 'utf8')).update(data).digest();
}

/** The `authorization` value of a sign request for `csrPem` made with `token`. */
export function csrProof(token: string, csrPem: string): string {
  return `${AUTHORIZATION_SCHEME} ${mac(token, createHash('sha256').update(csrPem).digest()).toString('hex')}`;
}

/** Whether `authorization` proves knowledge of `token` for this CSR. */
export function verifyCsrProof(token: string, csrPem: string, authorization: string | undefined): boolean {
  const m = /^MeshToken ([0-9a-f]{64})$/.exec(authorization ?? '');
  if (!m) return false;
  const want = mac(token, createHash('sha256').update(csrPem).digest());
  return timingSafeEqual(want, Buffer.from(m[1], 'hex'));
}

/** The CA's proof over its answer body. */
export function answerProof(token: string, body: string): string {
  return mac(token, body).toString('hex');
}

/** Whether the answer proof is right (so the roots in `body` come from the CA). */
export function verifyAnswerProof(token: string, body: string, proof: string | undefined): boolean {
  if (!proof || !/^[0-9a-f]{64}$/.test(proof)) return false;
  return timingSafeEqual(mac(token, body), Buffer.from(proof, 'hex'));
}

/**
 * Decides whether a bootstrap credential may obtain a certificate for `namespace/serviceAccount`.
 * The mesh-token one is {@link MeshTokenAuthenticator}; a Kubernetes one would send the
 * `authorization: Bearer <service-account JWT>` to the API server's TokenReview and compare the
 * `system:serviceaccount:<ns>:<sa>` user it answers.
 */
export interface BootstrapAuthenticator {
  /** Undefined when allowed; else why not. `body` is what the proof covers (the CSR PEM). */
  authenticate(authorization: string | undefined, csrPem: string, namespace: string, serviceAccount: string): Promise<string | undefined>;
  /** The proof the answer carries for the workload, when this kind of credential has one. */
  answerProof?(body: string, namespace: string, serviceAccount: string): string | undefined;
}

/** Bootstrap by mesh token: Mixer recomputes the workload's token from the mesh key. */
export class MeshTokenAuthenticator implements BootstrapAuthenticator {
  constructor(private readonly meshKey: string) {}

  async authenticate(authorization: string | undefined, csrPem: string, namespace: string, serviceAccount: string): Promise<string | undefined> {
    if (!authorization) return 'no bootstrap credential (authorization: MeshToken ...) and no client certificate';
    return verifyCsrProof(bootstrapToken(this.meshKey, namespace, serviceAccount), csrPem, authorization)
      ? undefined
      : `the bootstrap credential is not the one of ${namespace}/${serviceAccount}`;
  }

  answerProof(body: string, namespace: string, serviceAccount: string): string {
    return answerProof(bootstrapToken(this.meshKey, namespace, serviceAccount), body);
  }
}
