import { strict as assert } from 'node:assert';
import { copyFileSync, existsSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { REPO } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { parsePromText, sumOf } from '../support/prom-text';
import { getJson, startMeshIngress, startMeshService } from '../support/mesh';
import type { MeshIngress, MeshService } from '../support/mesh';
import { waitFor } from '../support/wait';
import { applyTlsConfig, certSignedBy, httpsCall, issueCert, meshRootOf, otherRoot, peerAuthentication, startTlsMixer } from '../support/mtls';
import type { TlsMixer } from '../support/mtls';
import { deriveKey, signRequest } from '../../src/mesh/common/mesh-key';
import { spiffeId } from '../../src/mesh/common/pki';
import { runMixctl } from '../support/mixctl';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { bootstrapToken } from '../../src/mesh/common/bootstrap';
import { WorkloadCert } from '../../src/mesh/mixer-client/workload-cert';
import { silentLogger } from '../../src/base/log';
import * as os from 'node:os';

const FRONTEND = spiffeId('default', 'frontend');
const DENY_BY_PRINCIPAL = `apiVersion: mixer/v1
kind: Rule
metadata: {name: deny-frontend-principal, namespace: default}
spec:
  match:
    all:
      - {fact: source.principal, operator: equal, value: "${FRONTEND}"}
      - {fact: destination.service.name, operator: equal, value: backend}
  actions:
    - {handler: deny-principal, instances: [nothing]}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny-principal, namespace: default}
spec:
  adapter: denier
  params: {status: {code: 7, message: frontend principal may not call backend}, validDuration: 5s, validUseCount: 1000}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing, namespace: default}
spec: {template: checknothing, params: {}}
`;

/** A plaintext HTTP GET (no identity header), as a workload outside the mesh would send. */
function plainGet(port: number, p = '/ping'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

describe('mutual TLS in the mesh: the CA, STRICT sidecars, Mixer asking for client certificates (real processes, real TLS)', function () {
  this.timeout(180_000);
  const cfg = new TempConfigDir();
  let mixer: TlsMixer;
  let ingress: MeshIngress;
  let frontend: MeshService;
  let backend: MeshService;
  const proxies = (): string[] => [ingress.adminUrl, frontend.adminUrl, backend.adminUrl];

  before(async () => {
    for (const f of ['metrics.yaml', 'graph.yaml']) copyFileSync(path.join(REPO, 'rules', f), path.join(cfg.dir, f));
    cfg.write('peer-authentication.yaml', peerAuthentication('default', 'istio-system', 'STRICT'));
    mixer = await startTlsMixer({ MIXER_CONFIG_DIR: cfg.dir, MIXER_ADMIN_TOKEN: 'admin-token-for-tests' });
    const env = { MIXER_MESH_KEY: mixer.meshKey };
    backend = await startMeshService(env, mixer.url, 'backend', 'v1');
    frontend = await startMeshService(env, mixer.url, 'frontend', 'v1');
    ingress = await startMeshIngress(env, mixer.url, ['/=frontend']);
  });

  after(async () => {
    await Promise.all([ingress?.proc.stop(), frontend?.stop(), backend?.stop()]);
    await mixer?.stop();
    cfg.cleanup();
  });

  it('serves ingress → frontend → backend over mutual TLS: connection_security_policy="mutual_tls" in /metrics, the sidecars STRICT', async () => {
    assert.ok(existsSync(path.join(cfg.dir, '.ca', 'roots.json')), 'the generated root is kept in the config dir');
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${ingress.url}/ping`);
      assert.equal(r.status, 200, await r.text());
    }
    const status = await getJson(`${backend.adminUrl}/status`);
    assert.equal(status.mtls.mode.mode, 'STRICT');
    assert.ok(status.mtls.inbound.handshakes >= 1);
    assert.equal(status.certificate.principal, spiffeId('default', 'backend'));
    await waitFor(
      'mutual_tls requests to backend in /metrics',
      async () => {
        const s = parsePromText((await httpsCall(`${mixer.url}/metrics`)).text);
        return (
          sumOf(s, 'istio_requests_total', {
            reporter: 'destination',
            destination_app: 'backend',
            source_app: 'frontend',
            source_principal: FRONTEND,
            connection_security_policy: 'mutual_tls',
          }) >= 10
        );
      },
      20_000,
      200,
    );
    const text = (await httpsCall(`${mixer.url}/metrics`)).text;
    assert.match(text, /mixer_ca_certificates_issued_total\{kind="workload"\} [3-9]/);
    assert.match(text, /mixer_ca_root_expiry_seconds \d+/);
  });

  it('a deny rule on source.principal bites (and lifts)', async () => {
    await applyTlsConfig(mixer, proxies(), () => cfg.write('deny-principal.yaml', DENY_BY_PRINCIPAL));
    const denied = await fetch(`${ingress.url}/ping`);
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /frontend principal may not call backend/);
    await applyTlsConfig(mixer, proxies(), () => cfg.remove('deny-principal.yaml'));
    assert.equal((await fetch(`${ingress.url}/ping`)).status, 200);
  });

  it('a sidecar refuses a plaintext caller (STRICT), a certificate of another CA and an expired one', async () => {
    const plain = await plainGet(backend.inboundPort);
    assert.equal(plain.status, 401);
    assert.match(plain.text, /mutual TLS is required/);
    const inbound = `https://127.0.0.1:${backend.inboundPort}/ping`;
    const good = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend');
    const ok = await httpsCall(inbound, { key: good.key, cert: good.cert, ca: mixer.roots, principal: 'skip' });
    assert.equal(ok.status, 200, 'a mesh certificate passes');
    const foreign = await certSignedBy(await otherRoot(), FRONTEND, Date.now() - 60_000, Date.now() + 3600_000);
    await assert.rejects(httpsCall(inbound, { ...foreign, ca: mixer.roots, principal: 'skip' }), 'another CA: the handshake fails');
    const expired = await certSignedBy(meshRootOf(cfg.dir), FRONTEND, Date.now() - 3600_000, Date.now() - 60_000);
    await assert.rejects(httpsCall(inbound, { ...expired, ca: mixer.roots, principal: 'skip' }), 'expired: the handshake fails');
    await assert.rejects(httpsCall(inbound, { ca: mixer.roots, principal: 'skip' }), 'no certificate: the handshake fails');
  });

  it('Mixer refuses check and report without a mesh client certificate (none, another CA, expired, plaintext), and keeps /metrics, /healthz, /readyz and the graph open', async () => {
    const bag = JSON.stringify({ attributes: { 'destination.service.name': 'backend' } });
    const check = (o = {}) => httpsCall(`${mixer.url}/v1/check`, { method: 'POST', body: bag, ca: mixer.roots, ...o });
    const none = await check();
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.text).error.code, 'MIXER_ERR_CLIENT_CERT_REQUIRED');
    const report = await httpsCall(`${mixer.url}/v1/report`, { method: 'POST', body: '{"attributes":[{}]}', ca: mixer.roots });
    assert.equal(report.status, 401);
    const foreign = await certSignedBy(await otherRoot(), FRONTEND, Date.now() - 60_000, Date.now() + 3600_000);
    assert.equal((await check(foreign)).status, 401);
    const expired = await certSignedBy(meshRootOf(cfg.dir), FRONTEND, Date.now() - 3600_000, Date.now() - 60_000);
    assert.equal((await check(expired)).status, 401);
    const good = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend');
    assert.equal((await check({ key: good.key, cert: good.cert })).status, 200);
    await assert.rejects(fetch(`${mixer.url.replace('https:', 'http:')}/v1/check`, { method: 'POST', body: bag }), 'plaintext to the TLS port fails');
    for (const p of ['/metrics', '/healthz', '/readyz', '/graph', '/v1/graph'])
      assert.equal((await httpsCall(`${mixer.url}${p}`, { ca: mixer.roots })).status, 200, `${p} is open`);
  });

  it('the CA signs only a workload’s own identity: another service’s CSR with my token, or with my certificate, is refused', async () => {
    const asBackend = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend', spiffeId('default', 'backend'));
    assert.equal(asBackend.status, 403);
    const mine = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend');
    assert.equal(mine.status, 200);
    const { createCsr, generateKeys } = await import('../../src/mesh/common/pki');
    const csr = await createCsr(spiffeId('default', 'backend'), await generateKeys());
    const renewAsOther = await httpsCall(`${mixer.url}/v1/ca/sign`, {
      method: 'POST',
      body: JSON.stringify({ csr }),
      ca: mixer.roots,
      key: mine.key,
      cert: mine.cert,
    });
    assert.equal(renewAsOther.status, 403);
    const noCredential = await httpsCall(`${mixer.url}/v1/ca/sign`, { method: 'POST', body: JSON.stringify({ csr }), ca: mixer.roots });
    assert.equal(noCredential.status, 401);
  });

  it('the registry: frontend cannot register as backend, and a captured (signed) registration replayed is refused', async () => {
    const mine = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend');
    const instance = {
      id: 'evil-1',
      service: 'backend',
      namespace: 'default',
      workload: 'backend-v1',
      labels: { app: 'backend', version: 'v1' },
      principal: spiffeId('default', 'backend'),
      address: '127.0.0.1:1',
    };
    const body = JSON.stringify({ instance });
    const hb = (o: object) => httpsCall(`${mixer.url}/v1/registry/heartbeat`, { method: 'POST', body, ca: mixer.roots, ...o });
    const asBackend = await hb({ key: mine.key, cert: mine.cert });
    assert.equal(asBackend.status, 403, asBackend.text);
    const asFrontendWithBackendPrincipal = await httpsCall(`${mixer.url}/v1/registry/heartbeat`, {
      method: 'POST',
      body: JSON.stringify({ instance: { ...instance, service: 'frontend' } }),
      ca: mixer.roots,
      key: mine.key,
      cert: mine.cert,
    });
    assert.equal(asFrontendWithBackendPrincipal.status, 403);
    // A registration signed with the mesh key, as a sniffer of the pre-mTLS mesh could capture, replayed at once: no certificate, no entry.
    const signed = signRequest(deriveKey(mixer.meshKey, 'registry'), 'POST', '/v1/registry/heartbeat', body);
    const replay = await hb({ headers: signed });
    assert.equal(replay.status, 401);
    const list = await httpsCall(`${mixer.url}/v1/registry/services/backend?namespace=default`, { ca: mixer.roots, key: mine.key, cert: mine.cert });
    assert.equal(list.status, 200);
    assert.ok(!(JSON.parse(list.text) as { instances: Array<{ id: string }> }).instances.some((i) => i.id === 'evil-1'));
  });

  it('PeerAuthentication hot-reloads: PERMISSIVE for backend takes plaintext, DISABLE sends plaintext (policy none), STRICT again refuses', async () => {
    await applyTlsConfig(mixer, proxies(), () => cfg.write('backend-pa.yaml', peerAuthentication('backend', 'default', 'PERMISSIVE', { app: 'backend' })));
    assert.equal((await plainGet(backend.inboundPort)).status, 200);
    await applyTlsConfig(mixer, proxies(), () => cfg.write('backend-pa.yaml', peerAuthentication('backend', 'default', 'DISABLE', { app: 'backend' })));
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${ingress.url}/ping`)).status, 200);
    await waitFor(
      'plaintext (policy none) frontend → backend requests in /metrics',
      async () =>
        sumOf(parsePromText((await httpsCall(`${mixer.url}/metrics`)).text), 'istio_requests_total', {
          reporter: 'destination',
          destination_app: 'backend',
          source_app: 'frontend',
          connection_security_policy: 'none',
        }) >= 5,
      20_000,
      200,
    );
    await applyTlsConfig(mixer, proxies(), () => cfg.remove('backend-pa.yaml'));
    assert.equal((await plainGet(backend.inboundPort)).status, 401);
    assert.equal((await fetch(`${ingress.url}/ping`)).status, 200);
  });

  it('mixctl ca: root (pinned or trusted), sign with a workload token, inspect against the root, token as a Secret; a wrong token is refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mixctl-ca-'));
    try {
      const rootFile = path.join(dir, 'root.pem');
      writeFileSync(rootFile, mixer.roots);
      const root = await runMixctl(['--mixer', mixer.url, 'ca', 'root', '--ca-file', rootFile]);
      assert.equal(root.code, 0, root.output);
      assert.equal(root.stdout.trim(), mixer.roots.trim());
      assert.match(root.output, /sha256 [0-9A-F:]{95}.*\(signing\)/);
      const untrusted = await runMixctl(['--mixer', mixer.url, 'ca', 'root']);
      assert.equal(untrusted.code, 3, 'Mixer not verified: refused without --ca-file or --insecure');
      const key = path.join(dir, 'k.pem');
      const cert = path.join(dir, 'c.pem');
      const signArgs = [
        '--mixer',
        mixer.url,
        'ca',
        'sign',
        '--service-account',
        'tester',
        '--ca-file',
        rootFile,
        '--key-out',
        key,
        '--cert-out',
        cert,
        '--ttl',
        '5m',
      ];
      const signed = await runMixctl(signArgs, { MIXER_MESH_KEY: mixer.meshKey });
      assert.equal(signed.code, 0, signed.output);
      const inspect = await runMixctl(['-o', 'json', 'ca', 'inspect', '-f', cert, '--ca-file', rootFile]);
      assert.equal(inspect.code, 0, inspect.output);
      const info = JSON.parse(inspect.stdout) as { spiffeId: string; valid: boolean; chainsToRoot: boolean; key: string };
      assert.deepEqual([info.spiffeId, info.valid, info.chainsToRoot, info.key], [spiffeId('default', 'tester'), true, true, 'ec prime256v1']);
      const wrong = await runMixctl(signArgs, { MIXER_BOOTSTRAP_TOKEN: 'f'.repeat(64) });
      assert.equal(wrong.code, 4, wrong.output);
      assert.match(wrong.output, /MIXER_ERR_FORBIDDEN/);
      const token = await runMixctl(['ca', 'token', '--service-account', 'backend', '-n', 'shop'], { MIXER_MESH_KEY: mixer.meshKey });
      assert.equal(token.code, 0, token.output);
      assert.match(token.stdout, /kind: Secret[\s\S]*name: mixer-bootstrap-backend[\s\S]*namespace: shop[\s\S]*token: [0-9a-f]{64}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a workload certificate re-reads the roots over one kept-alive connection, not a new TLS connection per poll', async () => {
    // A TCP relay in front of Mixer counts the connections the certificate's calls open.
    let connections = 0;
    const relay = net.createServer((client) => {
      connections++;
      const upstream = net.connect(Number(new URL(mixer.url).port), '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const cert = new WorkloadCert({
      mixerUrl: `https://127.0.0.1:${(relay.address() as net.AddressInfo).port}`,
      principal: spiffeId('default', 'poller'),
      token: bootstrapToken(mixer.meshKey, 'default', 'poller'),
      logger: silentLogger(),
      rootsPollMs: 50,
    });
    try {
      await cert.start();
      const afterStart = connections;
      let polls = 0;
      const read = cert.readRoots.bind(cert);
      cert.readRoots = async () => {
        await read();
        polls++;
      };
      await waitFor('20 polls of the roots', () => polls >= 20, 10_000);
      assert.equal(cert.current.ca.trim(), mixer.roots.trim(), 'the roots read are the CA’s');
      assert.ok(connections - afterStart <= 1, `${connections - afterStart} connections for ${polls} polls`);
    } finally {
      cert.stop();
      relay.close();
    }
  });
});
