import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MIXER_BIN, freePort, spawnNode } from './processes';
import type { TestProcess } from './processes';
import { waitFor } from './wait';
import { bootstrapToken, csrProof } from '../../src/mesh/common/bootstrap';
import { EC_P256, createCsr, generateKeys, importKeys, privateKeyPem, spiffeId, x509 } from '../../src/mesh/common/pki';
import { generateRoot } from '../../src/mesh/control/ca';

/** TLS client material for a test call. */
export interface ClientTls {
  key?: string;
  cert?: string;
  ca?: string;
}

/** One HTTPS answer. */
export interface TlsAnswer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request (a fresh connection each time, so each call handshakes with its own material). */
export function httpsCall(
  url: string,
  o: ClientTls & { method?: string; body?: string; headers?: Record<string, string>; principal?: string } = {},
): Promise<TlsAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(o.body) });
    const req = https.request(
      {
        host: u.hostname,
        port: Number(u.port),
        path: `${u.pathname}${u.search}`,
        method: o.method ?? 'GET',
        headers,
        key: o.key,
        cert: o.cert,
        ca: o.ca,
        rejectUnauthorized: o.ca !== undefined,
        agent: false,
        ...(o.principal ? { checkServerIdentity: () => undefined } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A running Mixer with the CA on. */
export interface TlsMixer extends TestProcess {
  url: string;
  /** The trusted roots (PEM), read once at start. */
  roots: string;
  meshKey: string;
}

/** Starts `mixer serve` with `MIXER_CA=on` and waits for it over https (its gRPC port off unless `MIXER_GRPC_PORT` is given). */
export async function startTlsMixer(env: NodeJS.ProcessEnv): Promise<TlsMixer> {
  const port = await freePort();
  const meshKey = env.MIXER_MESH_KEY ?? randomBytes(16).toString('hex');
  const p = spawnNode([MIXER_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port)], {
    MIXER_CA: 'on',
    MIXER_MESH_KEY: meshKey,
    MIXER_GRPC_PORT: '0',
    ...env,
  });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitFor(
      'Mixer over https',
      async () => {
        if (p.child.exitCode !== null) throw new Error(`mixer exited: ${p.output()}`);
        return (await httpsCall(`${url}/readyz`)).status === 200;
      },
      20_000,
      100,
    );
  } catch (err) {
    await p.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n${p.output()}`, { cause: err });
  }
  const roots = (JSON.parse((await httpsCall(`${url}/v1/ca/roots`)).text) as { roots: string[] }).roots.join('');
  return Object.assign(p, { url, roots, meshKey });
}

/** A workload certificate from Mixer's CA, obtained as a sidecar does (bootstrap token proof); `validitySeconds` asks for a lifetime. */
export async function issueCert(
  mixerUrl: string,
  meshKey: string,
  namespace: string,
  sa: string,
  askFor = spiffeId(namespace, sa),
  validitySeconds?: number,
): Promise<{ status: number; key: string; cert: string; text: string }> {
  const keys = await generateKeys();
  const csr = await createCsr(askFor, keys);
  const r = await httpsCall(`${mixerUrl}/v1/ca/sign`, {
    method: 'POST',
    body: JSON.stringify({ csr, validityDuration: validitySeconds }),
    headers: { authorization: csrProof(bootstrapToken(meshKey, namespace, sa), csr) },
  });
  const chain = r.status === 200 ? (JSON.parse(r.text) as { certChain: string[] }).certChain.join('') : '';
  return { status: r.status, key: await privateKeyPem(keys), cert: chain, text: r.text };
}

/** A certificate for `principal` signed by a given root (its key): e.g. an expired one, or one from another CA. */
export async function certSignedBy(
  root: { cert: string; key: string },
  principal: string,
  notBefore: number,
  notAfter: number,
): Promise<{ key: string; cert: string }> {
  const rootKeys = await importKeys(root.key, root.cert);
  const keys = await generateKeys();
  const rootCert = new x509.X509Certificate(root.cert);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c',
    subject: 'O=cluster.local',
    issuer: rootCert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    signingAlgorithm: EC_P256,
    publicKey: await x509.PublicKey.create(keys.publicKey),
    signingKey: rootKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: principal }]),
    ],
  });
  return { key: await privateKeyPem(keys), cert: `${cert.toString('pem').trim()}\n${root.cert}` };
}

/** Another CA's root (same shape as the mesh's, not trusted by it). */
export function otherRoot(): Promise<{ cert: string; key: string }> {
  return generateRoot();
}

/** The mesh root with its key, as Mixer keeps it in `<config dir>/.ca/roots.json` (the signing one). */
export function meshRootOf(configDir: string): { cert: string; key: string } {
  const roots = JSON.parse(readFileSync(path.join(configDir, '.ca', 'roots.json'), 'utf8')) as Array<{ cert: string; key: string }>;
  return roots[0];
}

/** Mixer's config status over https (the status route is open). */
export async function tlsGeneration(mixerUrl: string, ca: string): Promise<number> {
  const s = JSON.parse((await httpsCall(`${mixerUrl}/v1/config/status`, { ca })).text) as {
    generation: number;
    lastReload?: { ok: boolean; errors?: unknown };
  };
  if (s.lastReload && !s.lastReload.ok) throw new Error(`config rejected: ${JSON.stringify(s.lastReload.errors)}`);
  return s.generation;
}

/** Writes a config change and waits until Mixer and every proxy status page hold it. */
export async function applyTlsConfig(mixer: TlsMixer, adminUrls: string[], change: () => void): Promise<number> {
  const before = await tlsGeneration(mixer.url, mixer.roots);
  change();
  const gen = await waitFor(
    'Mixer to load the change',
    async () => ((await tlsGeneration(mixer.url, mixer.roots)) > before ? tlsGeneration(mixer.url, mixer.roots) : undefined),
    15_000,
    50,
  );
  for (const a of adminUrls)
    await waitFor(
      `${a} at generation ${gen}`,
      async () => ((await (await fetch(`${a}/status`)).json()) as { configGeneration: number }).configGeneration >= gen,
      15_000,
      50,
    );
  return gen;
}

/** `apiVersion: mixer/v1` PeerAuthentication text. */
export function peerAuthentication(name: string, namespace: string, mode: string, matchLabels?: Record<string, string>): string {
  const selector = matchLabels ? `  selector: {matchLabels: ${JSON.stringify(matchLabels)}}\n` : '';
  return `apiVersion: mixer/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${selector}  mtls: {mode: ${mode}}\n`;
}
