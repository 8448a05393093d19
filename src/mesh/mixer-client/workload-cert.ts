/**
 * A proxy's workload certificate: obtained from Mixer's CA at start (bootstrap token proof),
 * renewed at half-life over mutual TLS with the current one (a fresh key each time), and the
 * trusted roots re-read every few seconds (a root rotation reaches the proxy before the new root
 * signs anything). Listeners (the Mixer client, the inbound server, the upstream agent) hear every
 * change and use the new material for new connections; connections in flight keep theirs.
 */
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import type { Logger } from 'pino';
import { ANSWER_PROOF_HEADER, csrProof, verifyAnswerProof } from '../common/bootstrap';
import { createCsr, generateKeys, lifetimeOf, privateKeyPem, splitPem } from '../common/pki';
import { mtlsAgent } from './tls-agent';

/** The material a proxy presents and trusts. */
export interface CertMaterial {
  /** PKCS #8 PEM. */
  key: string;
  /** Leaf then root, PEM. */
  cert: string;
  /** Every trusted root, PEM. */
  ca: string;
  notAfter: number;
  renewAt: number;
  /** The issuer (root) of the certificate, as its subject reads. */
  issuer: string;
}

/** Options of {@link WorkloadCert}. */
export interface WorkloadCertOptions {
  /** Mixer's base URL, https. */
  mixerUrl: string;
  /** This workload's SPIFFE id. */
  principal: string;
  /** The workload's bootstrap token (MIXER_BOOTSTRAP_TOKEN). */
  token: string;
  logger: Logger;
  /** Lifetime to ask for, seconds; unset: the CA's default. */
  ttlSeconds?: number;
  /** How often the trusted roots are read again, ms (default 5 s). */
  rootsPollMs?: number;
}

interface Answer {
  status: number;
  body: string;
  proof?: string;
}

function call(base: URL, method: string, path: string, body: string | undefined, o: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(o.headers as Record<string, string>) };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = https.request(
      { ...o, host: base.hostname.replace(/^\[|\]$/g, ''), port: Number(base.port || 443), method, path, headers, agent: o.agent ?? false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, proof: res.headers[ANSWER_PROOF_HEADER] as string | undefined }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`Mixer did not answer ${method} ${path} within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Keeps one workload certificate current. */
export class WorkloadCert {
  private material: CertMaterial | undefined;
  private readonly listeners: Array<(m: CertMaterial) => void> = [];
  private renewTimer: NodeJS.Timeout | undefined;
  private rootsTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly base: URL;
  /** The keep-alive agent of calls made with the current material (renewals, root polls): one secure context and connection, not one per call. */
  private agent: { m: CertMaterial; agent: https.Agent } | undefined;
  /** Certificates obtained (the first, then renewals). */
  issued = 0;
  lastError: string | undefined;

  constructor(private readonly o: WorkloadCertOptions) {
    this.base = new URL(o.mixerUrl);
  }

  /** The current material (after `start`). */
  get current(): CertMaterial {
    if (!this.material) throw new Error('no workload certificate yet');
    return this.material;
  }

  /** `fn` hears every new certificate or root set. */
  onChange(fn: (m: CertMaterial) => void): void {
    this.listeners.push(fn);
  }

  /** Obtains the first certificate (retrying every second for at most `waitMs`), then renews in the background. */
  async start(waitMs = 30_000): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await this.obtain();
        break;
      } catch (err) {
        this.lastError = (err as Error).message;
        if (Date.now() > deadline || this.stopped) throw new Error(`cannot obtain a workload certificate from Mixer's CA: ${this.lastError}`, { cause: err });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.pollRoots();
  }

  /** One certificate: over mutual TLS with the current one when it is still valid, else with the bootstrap token. */
  private async obtain(): Promise<void> {
    const keys = await generateKeys();
    const csr = await createCsr(this.o.principal, keys);
    const body = JSON.stringify({ csr, ...(this.o.ttlSeconds ? { validityDuration: this.o.ttlSeconds } : {}) });
    const m = this.material;
    const renewing = m !== undefined && m.notAfter > Date.now() + 2000;
    const r = renewing
      ? await call(this.base, 'POST', '/v1/ca/sign', body, { agent: this.agentOf(m) })
      : // No root yet to verify Mixer with: the answer's proof (made with this workload's token) authenticates it instead.
        await call(this.base, 'POST', '/v1/ca/sign', body, { rejectUnauthorized: false, headers: { authorization: csrProof(this.o.token, csr) } });
    if (r.status !== 200) throw new Error(`POST /v1/ca/sign answered ${r.status}: ${r.body.slice(0, 300)}`);
    if (!renewing && !verifyAnswerProof(this.o.token, r.body, r.proof))
      throw new Error('the CA answer does not carry the proof of this workload token: not our Mixer?');
    const a = JSON.parse(r.body) as { certChain: string[]; roots: string[] };
    const life = lifetimeOf(a.certChain[0]);
    this.material = {
      key: await privateKeyPem(keys),
      cert: a.certChain.join(''),
      ca: a.roots.join(''),
      notAfter: life.notAfter,
      renewAt: life.renewAt,
      issuer: new X509Certificate(a.certChain[0]).issuer,
    };
    this.issued++;
    this.lastError = undefined;
    this.o.logger.info({ principal: this.o.principal, notAfter: new Date(life.notAfter).toISOString(), renewing }, 'workload certificate obtained');
    this.emit();
    this.scheduleRenewal(life.renewAt - Date.now());
  }

  private scheduleRenewal(inMs: number): void {
    if (this.stopped) return;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(
      () => {
        this.obtain().catch((err: unknown) => {
          this.lastError = (err as Error).message;
          this.o.logger.warn({ err: this.lastError }, 'workload certificate renewal failed; retrying in 2s');
          this.scheduleRenewal(2000);
        });
      },
      Math.max(0, inMs),
    );
    this.renewTimer.unref();
  }

  private pollRoots(): void {
    if (this.stopped) return;
    this.rootsTimer = setTimeout(() => {
      void this.readRoots().finally(() => this.pollRoots());
    }, this.o.rootsPollMs ?? 5000);
    this.rootsTimer.unref();
  }

  /** Reads the trusted roots (verifying Mixer with the ones held); a change is applied at once. */
  async readRoots(): Promise<void> {
    const m = this.material;
    if (!m) return;
    try {
      const r = await call(this.base, 'GET', '/v1/ca/roots', undefined, { agent: this.agentOf(m) });
      if (r.status !== 200) throw new Error(`GET /v1/ca/roots answered ${r.status}`);
      const roots = (JSON.parse(r.body) as { roots: string[] }).roots;
      const ca = roots.join('');
      if (splitPem(ca).length === 0 || ca === m.ca || this.material !== m) return;
      this.material = { ...m, ca };
      this.o.logger.info({ roots: roots.length }, 'trusted roots changed');
      this.emit();
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'cannot read the trusted roots; keeping the last ones');
    }
  }

  /**
   * The agent presenting `m` (made again when the material changes; the old one's idle connection
   * closes by its timeout). Its idle connection outlives the poll interval, so a poll reuses it.
   */
  private agentOf(m: CertMaterial): https.Agent {
    if (this.agent?.m !== m) this.agent = { m, agent: mtlsAgent(m, { maxSockets: 1, timeoutMs: 2 * (this.o.rootsPollMs ?? 5000) + 1000 }) };
    return this.agent.agent;
  }

  private emit(): void {
    const m = this.material!;
    for (const fn of this.listeners) fn(m);
  }

  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.rootsTimer) clearTimeout(this.rootsTimer);
    this.agent?.agent.destroy();
  }
}
