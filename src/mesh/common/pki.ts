/**
 * X.509 for the mesh: ECDSA P-256 keys, PKCS #10 requests and SPIFFE ids. Issuing and requests use
 * `@peculiar/x509` over Node's WebCrypto (no hand-made ASN.1); verification uses Node's own
 * `X509Certificate` and TLS stack.
 */
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The one algorithm of the mesh's keys and signatures. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The SPIFFE trust domain of every mesh identity. */
export const TRUST_DOMAIN = 'cluster.local';

/** A key pair that can be written out as PEM. */
export type MeshKeys = webcrypto.CryptoKeyPair;

/** Who a certificate says its holder is: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export interface SpiffeIdentity {
  principal: string;
  namespace: string;
  serviceAccount: string;
}

/** A new ECDSA P-256 key pair (extractable, so the private key can be written as PKCS #8 PEM). */
export function generateKeys(): Promise<MeshKeys> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

/** The private key as PKCS #8 PEM (what Node's TLS takes as `key`). */
export async function privateKeyPem(keys: MeshKeys): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY').trim()}\n`;
}

/** Reads a PKCS #8 PEM private key and its certificate's public key back into a key pair. */
export async function importKeys(keyPem: string, certPem: string): Promise<MeshKeys> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey: webcrypto.CryptoKey = await webcrypto.subtle.importKey('pkcs8', der, EC_P256, true, ['sign']);
  // @peculiar/x509 types the key with the DOM's CryptoKey, which this Node project's lib leaves out: the same object as node's.
  const publicKey = (await new x509.X509Certificate(certPem).publicKey.export(EC_P256, ['verify'])) as unknown as webcrypto.CryptoKey;
  return { privateKey, publicKey };
}

/** `spiffe://cluster.local/ns/<namespace>/sa/<serviceAccount>`. */
export function spiffeId(namespace: string, serviceAccount: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** Parses a SPIFFE id of this trust domain; undefined for anything else. */
export function parseSpiffeId(id: string): SpiffeIdentity | undefined {
  const m = SPIFFE.exec(id);
  if (!m || m[1] !== TRUST_DOMAIN) return undefined;
  return { principal: id, namespace: m[2], serviceAccount: m[4] };
}

/**
 * The SPIFFE identity in a `subjectaltname` string as Node prints it (`URI:spiffe://..., DNS:...`):
 * exactly one SPIFFE URI of this trust domain, else undefined.
 */
export function identityOfSan(san: string | undefined): SpiffeIdentity | undefined {
  if (!san) return undefined;
  const uris = san
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:spiffe://'))
    .map((s) => s.slice(4));
  return uris.length === 1 ? parseSpiffeId(uris[0]) : undefined;
}

/** The SPIFFE identity a certificate carries, if exactly one. */
export function identityOfCert(cert: X509Certificate | string): SpiffeIdentity | undefined {
  const c = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  return identityOfSan(c.subjectAltName);
}

/** A PKCS #10 request for `principal` (SAN URI), signed with `keys`. */
export async function createCsr(principal: string, keys: MeshKeys): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=mixer-mesh',
    keys,
    signingAlgorithm: EC_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: principal }])],
  });
  return `${csr.toString('pem').trim()}\n`;
}

/** Every certificate in a PEM bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((s) => `${s}\n`) ?? [];
}

/** When a certificate expires and when its holder should renew it (half-way through its life). */
export function lifetimeOf(certPem: string): { notBefore: number; notAfter: number; renewAt: number } {
  const c = new X509Certificate(certPem);
  const notBefore = Date.parse(c.validFrom);
  const notAfter = Date.parse(c.validTo);
  return { notBefore, notAfter, renewAt: notBefore + (notAfter - notBefore) / 2 };
}

export { x509 };
