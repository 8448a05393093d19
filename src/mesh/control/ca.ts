/**
 * The mesh CA: signs workload certificates (X.509 SVIDs: one SAN URI
 * `spiffe://cluster.local/ns/<ns>/sa/<sa>`, ECDSA P-256, default lifetime 24 h) with the newest
 * active root, and keeps the set of trusted roots (an old root stays trusted through its overlap
 * period, so a root can be rotated while traffic flows). It also issues Mixer's own serving
 * certificate.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { EC_P256, generateKeys, importKeys, parseSpiffeId, privateKeyPem, spiffeId, x509 } from '../common/pki';
import type { MeshKeys, SpiffeIdentity } from '../common/pki';
import type { CaRootStore, RootEntry } from './ca-store';

/** Shortest certificate lifetime the CA issues (tests use it), ms. */
export const MIN_CERT_TTL_MS = 60_000;
/** Default certificate lifetime, ms. */
export const DEFAULT_CERT_TTL_MS = 24 * 3600_000;
/** How long a generated root is valid, ms (10 years). */
const ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;
/** Certificates are valid from a little before they are issued: clocks of a mesh differ. */
const BACKDATE_MS = 5_000;

/** Why a CSR was refused (a 400 or 403 to the caller). */
export class SignError extends Error {
  constructor(
    message: string,
    readonly reason: 'bad_csr' | 'identity' | 'unauthenticated',
  ) {
    super(message);
  }
}

/** What the CA answers for a signed CSR (the shape of Istio's CSR API answer, plus the trust bundle). */
export interface SignedCert {
  /** The workload certificate, then the root that signed it. */
  certChain: string[];
  /** Every root to trust now (more than one during a rotation). */
  roots: string[];
  identity: SpiffeIdentity;
}

/** Options of the CA. */
export interface MeshCaOptions {
  store: CaRootStore;
  logger: Logger;
  /** Registry for `mixer_ca_*`. */
  registry: Registry;
  /** Lifetime when the request names none (`MIXER_CA_TTL`, default 24h). */
  defaultTtlMs?: number;
  /** Longest lifetime a request may ask for (`MIXER_CA_MAX_TTL`, default the larger of 24h and the default). */
  maxTtlMs?: number;
  /** How often roots are read again from a shared store (another replica may have rotated), ms. */
  refreshMs?: number;
}

interface LoadedRoot extends RootEntry {
  x509: X509Certificate;
  keys?: MeshKeys;
  notAfter: number;
}

/** A self-signed ECDSA P-256 root. */
export async function generateRoot(now = Date.now(), validMs = ROOT_TTL_MS): Promise<{ cert: string; key: string }> {
  const keys = await generateKeys();
  const name = `CN=mixer-mesh root ${new Date(now).toISOString().slice(0, 19)}, O=cluster.local`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validMs),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: `${cert.toString('pem').trim()}\n`, key: await privateKeyPem(keys) };
}

/** The CA of one Mixer replica (replicas sharing a store share its roots). */
export class MeshCa {
  private roots: LoadedRoot[] = [];
  private rootsKey = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<() => void> = [];
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  private readonly issued: Counter;
  private readonly failures: Counter;

  constructor(private readonly o: MeshCaOptions) {
    this.defaultTtlMs = o.defaultTtlMs ?? DEFAULT_CERT_TTL_MS;
    this.maxTtlMs = Math.max(o.maxTtlMs ?? DEFAULT_CERT_TTL_MS, this.defaultTtlMs);
    this.issued = new Counter({
      name: 'mixer_ca_certificates_issued_total',
      help: 'Certificates the mesh CA signed, by kind (workload, server).',
      labelNames: ['kind'],
      registers: [o.registry],
    });
    this.failures = new Counter({
      name: 'mixer_ca_sign_failures_total',
      help: 'Sign requests the mesh CA refused, by reason (bad_csr, identity, unauthenticated).',
      labelNames: ['reason'],
      registers: [o.registry],
    });
    const expiry: Gauge = new Gauge({
      name: 'mixer_ca_root_expiry_seconds',
      help: 'Seconds until the signing root of the mesh CA expires.',
      registers: [o.registry],
      collect: () => {
        const s = this.signingRoot(false);
        if (s) expiry.set(Math.round((s.notAfter - Date.now()) / 1000));
      },
    });
    const trusted: Gauge = new Gauge({
      name: 'mixer_ca_roots_trusted',
      help: 'Roots the mesh trusts now (2 during a rotation overlap).',
      registers: [o.registry],
      collect: () => trusted.set(this.trustedRoots().length),
    });
  }

  /** Loads the roots (generating and keeping one when the store has none), then re-reads them every `refreshMs`. */
  async start(): Promise<void> {
    let roots = await this.o.store.load();
    if (!roots || roots.length === 0) {
      const root = await generateRoot();
      roots = await this.o.store.create([{ ...root, activeFrom: 0 }]);
      this.o.logger.info({ store: this.o.store.describe }, 'mesh CA: generated a new root and kept it');
    }
    await this.use(roots);
    if (!this.signingRoot(false)) throw new Error(`the mesh CA has no root with a key in ${this.o.store.describe}`);
    const s = this.signingRoot(false)!;
    this.o.logger.info({ store: this.o.store.describe, root: s.x509.fingerprint256, expires: s.x509.validTo }, 'mesh CA on');
    const every = this.o.refreshMs ?? 5000;
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.refresh().finally(tick);
      }, every);
      this.timer.unref();
    };
    tick();
  }

  /** Stops re-reading the store. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** `fn` runs whenever the trusted roots or the signing root change (Mixer then renews its TLS). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private async refresh(): Promise<void> {
    try {
      const roots = await this.o.store.load();
      if (roots) await this.use(roots);
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'mesh CA: cannot read the roots again; the last ones keep serving');
    }
    this.notifyIfChanged();
  }

  private async use(entries: RootEntry[]): Promise<void> {
    const loaded: LoadedRoot[] = [];
    for (const e of entries) {
      const c = new X509Certificate(e.cert);
      if (!c.ca) throw new Error('a CA root certificate must have basicConstraints CA:TRUE');
      loaded.push({ ...e, cert: `${e.cert.trim()}\n`, x509: c, notAfter: Date.parse(c.validTo), keys: e.key ? await importKeys(e.key, e.cert) : undefined });
    }
    this.roots = loaded;
    this.notifyIfChanged();
  }

  private notifyIfChanged(): void {
    const key = `${this.signingRoot(false)?.x509.fingerprint256 ?? ''}|${this.trustedRoots().join('')}`;
    if (key === this.rootsKey) return;
    const first = this.rootsKey === '';
    this.rootsKey = key;
    if (!first) for (const fn of this.listeners) fn();
  }

  /** The root that signs now: the newest active one with a key. */
  private signingRoot(must = true): LoadedRoot | undefined {
    const now = Date.now();
    let best: LoadedRoot | undefined;
    for (const r of this.roots) if (r.keys && r.activeFrom <= now && r.notAfter > now && (!best || r.activeFrom > best.activeFrom)) best = r;
    if (!best && must) throw new Error('the mesh CA has no usable root');
    return best;
  }

  /** PEMs of every root trusted now, the signing one first. */
  trustedRoots(): string[] {
    const now = Date.now();
    const s = this.signingRoot(false);
    const rest = this.roots.filter((r) => r !== s && r.notAfter > now && (r.trustedUntil === undefined || r.trustedUntil > now)).map((r) => r.cert);
    return s ? [s.cert, ...rest] : rest;
  }

  /** What the roots look like (for `mixctl ca root` and `GET /v1/ca/roots`). */
  describeRoots(): Array<{ fingerprint: string; subject: string; notAfter: string; signing: boolean; activeFrom: string; trustedUntil?: string }> {
    const s = this.signingRoot(false);
    return this.roots.map((r) => ({
      fingerprint: r.x509.fingerprint256,
      subject: r.x509.subject,
      notAfter: new Date(r.notAfter).toISOString(),
      signing: r === s,
      activeFrom: new Date(r.activeFrom).toISOString(),
      ...(r.trustedUntil !== undefined ? { trustedUntil: new Date(r.trustedUntil).toISOString() } : {}),
    }));
  }

  /** Counts a refusal that happened before signing (e.g. a bad bootstrap credential). */
  countFailure(reason: SignError['reason']): void {
    this.failures.inc({ reason });
  }

  /**
   * Reads a CSR: its signature must verify, its key be ECDSA P-256, and it must name exactly one
   * SPIFFE id of this trust domain. Throws {@link SignError}.
   */
  async readCsr(csrPem: string): Promise<{ csr: x509.Pkcs10CertificateRequest; identity: SpiffeIdentity }> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw this.fail(`not a PEM PKCS #10 request: ${(err as Error).message}`, 'bad_csr');
    }
    const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw this.fail('the CSR key must be ECDSA P-256', 'bad_csr');
    if (!(await csr.verify())) throw this.fail('the CSR signature does not verify', 'bad_csr');
    const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
    const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
    const identity = uris.length === 1 ? parseSpiffeId(uris[0]) : undefined;
    if (!identity) throw this.fail('the CSR must carry exactly one SAN URI spiffe://cluster.local/ns/<namespace>/sa/<service account>', 'bad_csr');
    if ((san?.names.items.length ?? 0) !== 1) throw this.fail('the CSR may carry no SAN but its SPIFFE id', 'bad_csr');
    return { csr, identity };
  }

  private fail(message: string, reason: SignError['reason']): SignError {
    this.failures.inc({ reason });
    return new SignError(message, reason);
  }

  /**
   * Signs a CSR already read (and its identity already authorised by the caller) for `ttlMs`
   * (clamped to 1 minute .. the maximum; undefined: the default).
   */
  async sign(csr: x509.Pkcs10CertificateRequest, identity: SpiffeIdentity, ttlMs?: number): Promise<SignedCert> {
    const ttl = Math.min(Math.max(ttlMs ?? this.defaultTtlMs, MIN_CERT_TTL_MS), this.maxTtlMs);
    const names = [{ type: 'url' as const, value: identity.principal }];
    const cert = await this.issue(csr.publicKey, names, ttl, 'workload');
    return { certChain: cert, roots: this.trustedRoots(), identity };
  }

  /** Mixer's own serving certificate: its SPIFFE id and the DNS names and IPs it is reached at. */
  async issueServer(dnsNames: string[], ips: string[], ttlMs = this.defaultTtlMs): Promise<{ key: string; certChain: string[] }> {
    const keys = await generateKeys();
    const names: x509.JsonGeneralName[] = [
      { type: 'url', value: spiffeId('istio-system', 'mixer') },
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ips.map((value) => ({ type: 'ip' as const, value })),
    ];
    const certChain = await this.issue(await x509.PublicKey.create(keys.publicKey), names, ttl(ttlMs), 'server');
    return { key: await privateKeyPem(keys), certChain };
    function ttl(ms: number): number {
      return Math.max(ms, MIN_CERT_TTL_MS);
    }
  }

  private async issue(publicKey: x509.PublicKey, names: x509.JsonGeneralName[], ttlMs: number, kind: 'workload' | 'server'): Promise<string[]> {
    const root = this.signingRoot()!;
    const now = Date.now();
    const notAfter = Math.min(now + ttlMs, root.notAfter);
    const rootCert = new x509.X509Certificate(root.cert);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      subject: 'O=cluster.local',
      issuer: rootCert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      signingAlgorithm: EC_P256,
      publicKey,
      signingKey: root.keys!.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(rootCert),
      ],
    });
    this.issued.inc({ kind });
    return [`${cert.toString('pem').trim()}\n`, root.cert];
  }

  /**
   * Starts a root rotation: a new root is trusted at once, signs from `propagateMs` on (time for
   * every proxy to trust it before it meets a certificate it signed), and the old roots stay
   * trusted `overlapMs` more (until every certificate they signed has been renewed). Replicas
   * sharing the store follow within `refreshMs`.
   */
  async rotate(propagateMs: number, overlapMs: number): Promise<RootEntry[]> {
    if (!this.o.store.writable) throw new Error('the CA root comes from MIXER_CA_CERT/MIXER_CA_KEY: rotate it by changing those files');
    const now = Date.now();
    const fresh = await generateRoot(now);
    const kept = this.roots
      .filter((r) => r.notAfter > now && (r.trustedUntil === undefined || r.trustedUntil > now))
      .map((r) => ({ cert: r.cert, key: r.key, activeFrom: r.activeFrom, trustedUntil: Math.min(r.trustedUntil ?? Infinity, now + propagateMs + overlapMs) }));
    const entries: RootEntry[] = [...kept, { ...fresh, activeFrom: now + propagateMs }];
    await this.o.store.save(entries);
    await this.use(entries);
    this.o.logger.info({ propagateMs, overlapMs }, 'mesh CA: root rotation started');
    // The signing root changes at `activeFrom`: tell listeners then (and once more after the overlap).
    for (const at of [propagateMs, propagateMs + overlapMs]) setTimeout(() => this.notifyIfChanged(), at + 10).unref();
    return entries;
  }
}
