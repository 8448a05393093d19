/**
 * `mixctl ca`: the mesh CA for operators. `root` prints the trusted roots (PEM, to stdout: a
 * trust bundle for clients), `sign` obtains a workload certificate with a bootstrap token (for a
 * tool that must call check or report with a client certificate), `inspect` shows what a
 * certificate says (SPIFFE id, issuer, validity) and whether it chains to a root, `token` prints
 * a workload's bootstrap-token Secret (computed from MIXER_MESH_KEY; apply it in that workload's
 * namespace only), `rotate` starts a root rotation (admin token).
 *
 * These calls use Node's https directly (not `fetch`): the first `root` call can pin a
 * fingerprint with `--insecure` (and verify it by eye), and `--ca-file` trusts a saved bundle.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { parseDuration } from '../../attributes/duration';
import { bootstrapToken, csrProof, verifyAnswerProof, ANSWER_PROOF_HEADER } from '../../mesh/common/bootstrap';
import { meshKeyFromEnv } from '../../mesh/common/mesh-key';
import { createCsr, generateKeys, identityOfCert, privateKeyPem, spiffeId, splitPem } from '../../mesh/common/pki';
import { CliError, EXIT, usageError } from './errors';
import { errorFromAnswer } from './client';
import type { ClientOptions } from './client';
import { emit, renderFields, toYaml, writeErr, writeOut } from './output';
import type { OutputFormat } from './output';

/** How `mixctl ca` reaches Mixer over TLS. */
export interface CaTlsFlags {
  caFile?: string;
  insecure?: boolean;
}

function call(
  c: ClientOptions,
  tls: CaTlsFlags,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; proof?: string }> {
  const u = new URL(`${c.url}${path}`);
  const secure = u.protocol === 'https:';
  const h: Record<string, string | number> = { ...headers };
  if (c.token && path === '/v1/ca/rotate') h.authorization = `Bearer ${c.token}`;
  if (body !== undefined) Object.assign(h, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  return new Promise((resolve, reject) => {
    const o = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (secure ? 443 : 80)), path: `${u.pathname}${u.search}`, method, headers: h };
    const onAnswer = (res: http.IncomingMessage): void => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, proof: res.headers[ANSWER_PROOF_HEADER] as string | undefined }));
    };
    const req = secure
      ? https.request({ ...o, ca: tls.caFile ? readFileSync(tls.caFile, 'utf8') : undefined, rejectUnauthorized: !tls.insecure }, onAnswer)
      : http.request(o, onAnswer);
    req.setTimeout(c.timeoutMs, () => req.destroy(new Error(`no answer within ${c.timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(
        new CliError(EXIT.UNREACHABLE, `cannot reach Mixer at ${c.url}: ${err.message}`, [
          'a Mixer with its CA on speaks https: trust its root with --ca-file <bundle.pem> (or, the first time, --insecure and compare the fingerprint)',
        ]),
      ),
    );
    req.end(body);
  });
}

/** `mixctl ca root`: the trusted roots as PEM on stdout (table) or their details (json, yaml). */
export async function caRoot(format: OutputFormat, c: ClientOptions, tls: CaTlsFlags): Promise<void> {
  const r = await call(c, tls, 'GET', '/v1/ca/roots');
  if (r.status !== 200) throw errorFromAnswer(r.status, r.text, 'GET', '/v1/ca/roots');
  const a = JSON.parse(r.text) as { roots: string[]; details: Array<Record<string, unknown>> };
  if (format !== 'table') return emit(format, a, () => '');
  for (const d of a.details)
    writeErr(`# ${String(d.subject).replace(/\n/g, ', ')}  sha256 ${String(d.fingerprint)}  until ${String(d.notAfter)}${d.signing ? '  (signing)' : ''}`);
  writeOut(a.roots.join('').trimEnd());
}

/** `mixctl ca inspect -f cert.pem [--ca-file roots.pem]`: local, no Mixer. */
export function caInspect(format: OutputFormat, file: string, caFile?: string): void {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`-f ${file}: ${(err as Error).message}`);
  }
  const pems = splitPem(text);
  if (pems.length === 0) throw usageError(`${file}: no PEM certificate in it`);
  const c = new X509Certificate(pems[0]);
  const roots = caFile ? splitPem(readFileSync(caFile, 'utf8')).map((p) => new X509Certificate(p)) : [];
  const now = Date.now();
  const info = {
    spiffeId: identityOfCert(c)?.principal ?? null,
    subject: c.subject,
    issuer: c.issuer,
    subjectAltName: c.subjectAltName ?? null,
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    valid: Date.parse(c.validFrom) <= now && now < Date.parse(c.validTo),
    ca: c.ca,
    key: `${c.publicKey.asymmetricKeyType ?? '?'} ${c.publicKey.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
    fingerprint256: c.fingerprint256,
    ...(caFile ? { chainsToRoot: roots.some((r) => c.checkIssued(r) && c.verify(r.publicKey)) } : {}),
  };
  emit(format, info, () => renderFields(Object.entries(info).map(([k, v]) => [k, String(v)] as const)));
}

/** The bootstrap token of `namespace/sa`: MIXER_BOOTSTRAP_TOKEN, else computed from MIXER_MESH_KEY. */
function tokenOf(namespace: string, sa: string, env: NodeJS.ProcessEnv): string {
  if (env.MIXER_BOOTSTRAP_TOKEN) return env.MIXER_BOOTSTRAP_TOKEN;
  const key = meshKeyFromEnv(env);
  if (!key) throw usageError('set MIXER_BOOTSTRAP_TOKEN (the workload token) or MIXER_MESH_KEY (to compute it)');
  return bootstrapToken(key, namespace, sa);
}

/** `mixctl ca sign`: a new key and a certificate for `namespace/sa`, written to files. */
export async function caSign(
  c: ClientOptions,
  tls: CaTlsFlags,
  o: { namespace: string; serviceAccount: string; ttl?: string; keyOut: string; certOut: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  let seconds: number | undefined;
  if (o.ttl !== undefined) {
    const ms = parseDuration(o.ttl);
    if (ms === undefined || ms < 60_000) throw usageError(`--ttl: ${JSON.stringify(o.ttl)} must be a duration of at least 1m`);
    seconds = Math.round(ms / 1000);
  }
  const token = tokenOf(o.namespace, o.serviceAccount, env);
  const keys = await generateKeys();
  const csr = await createCsr(spiffeId(o.namespace, o.serviceAccount), keys);
  const body = JSON.stringify({ csr, ...(seconds ? { validityDuration: seconds } : {}) });
  const r = await call(c, tls, 'POST', '/v1/ca/sign', body, { authorization: csrProof(token, csr) });
  if (r.status !== 200) throw errorFromAnswer(r.status, r.text, 'POST', '/v1/ca/sign');
  if (!verifyAnswerProof(token, r.text, r.proof)) throw new CliError(EXIT.ERROR, 'the answer does not prove knowledge of the workload token: not the mesh CA');
  const a = JSON.parse(r.text) as { certChain: string[]; roots: string[] };
  writeFileSync(o.keyOut, await privateKeyPem(keys), { mode: 0o600 });
  writeFileSync(o.certOut, a.certChain.join(''));
  writeErr(`wrote ${o.keyOut} and ${o.certOut} (${spiffeId(o.namespace, o.serviceAccount)}, until ${new X509Certificate(a.certChain[0]).validTo})`);
}

/** `mixctl ca token`: the Secret holding one workload's bootstrap token, as YAML (`kube-inject` mounts it). */
export function caToken(o: { namespace: string; serviceAccount: string; secretPrefix: string }, env: NodeJS.ProcessEnv = process.env): void {
  const token = tokenOf(o.namespace, o.serviceAccount, env);
  writeOut(
    toYaml({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${o.secretPrefix}${o.serviceAccount}`, namespace: o.namespace, labels: { 'mixer.io/bootstrap-for': o.serviceAccount } },
      type: 'Opaque',
      stringData: { token },
    }).trimEnd(),
  );
}

/** `mixctl ca rotate`: starts a root rotation (admin token). */
export async function caRotate(format: OutputFormat, c: ClientOptions, tls: CaTlsFlags, o: { propagate?: string; overlap?: string }): Promise<void> {
  const body = JSON.stringify({ ...(o.propagate ? { propagate: o.propagate } : {}), ...(o.overlap ? { overlap: o.overlap } : {}) });
  const r = await call(c, tls, 'POST', '/v1/ca/rotate', body);
  if (r.status !== 200) throw errorFromAnswer(r.status, r.text, 'POST', '/v1/ca/rotate');
  const a = JSON.parse(r.text) as { roots: Array<Record<string, unknown>> };
  emit(format, a, () =>
    a.roots
      .map(
        (d) =>
          `${String(d.fingerprint)}  ${d.signing ? 'signing' : `signs from ${String(d.activeFrom)}`}${d.trustedUntil ? `, trusted until ${d.trustedUntil as string}` : ''}`,
      )
      .join('\n'),
  );
}
