import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { TempConfigDir } from '../support/config-dir';
import { parsePromText, sumOf } from '../support/prom-text';
import { getJson, startMeshIngress, startMeshService } from '../support/mesh';
import type { MeshIngress, MeshService } from '../support/mesh';
import { waitFor } from '../support/wait';
import { httpsCall, issueCert, peerAuthentication, startTlsMixer } from '../support/mtls';
import type { TlsMixer } from '../support/mtls';

/** Steady traffic through the ingress (keep-alive), every failure kept with its reason. */
class SteadyTraffic {
  ok = 0;
  readonly failures: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const p = fetch(this.url)
        .then(async (r) => {
          const text = await r.text();
          if (r.status === 200) this.ok++;
          else this.failures.push(`${r.status} ${text.slice(0, 200)}`);
        })
        .catch((err: unknown) => void this.failures.push(String(err)))
        .finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }, 1000 / this.perSecond);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inflight]);
  }
}

const CERT_TTL = '1m';
/** The length of the steady-traffic run with 1-minute certificates: each proxy renews about five times. */
const ROTATION_RUN_MS = 180_000;

describe('certificate rotation under traffic: 1-minute certificates for 3 minutes, then a root rotation with overlap (real processes)', function () {
  this.timeout(600_000);
  const cfg = new TempConfigDir();
  let mixer: TlsMixer;
  let ingress: MeshIngress;
  let frontend: MeshService;
  let backend: MeshService;
  const statusPages = (): string[] => [ingress.adminUrl, frontend.adminUrl, backend.adminUrl];

  before(async () => {
    cfg.write('peer-authentication.yaml', peerAuthentication('default', 'istio-system', 'STRICT'));
    mixer = await startTlsMixer({ MIXER_CONFIG_DIR: cfg.dir, MIXER_CA_TTL: CERT_TTL, MIXER_ADMIN_TOKEN: 'admin-token-for-tests' });
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

  it('renews at half-life with zero failed requests, and a keep-alive connection opened before a renewal keeps working after it', async () => {
    const first = await Promise.all(statusPages().map(async (u) => (await getJson(`${u}/status`)).certificate));
    for (const c of first) {
      const life = Date.parse(c.notAfter) - Date.now();
      assert.ok(life > 0 && life <= 61_000, `a 1-minute certificate (${c.notAfter})`);
    }
    // One long-lived mutual TLS connection to backend's inbound port, used every second across its renewals.
    const mine = await issueCert(mixer.url, mixer.meshKey, 'default', 'frontend');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, key: mine.key, cert: mine.cert, ca: mixer.roots });
    const ports = new Set<number>();
    let heldOk = 0;
    const held = setInterval(() => {
      const req = https.get({ host: '127.0.0.1', port: backend.inboundPort, path: '/ping', agent, checkServerIdentity: () => undefined }, (res) => {
        ports.add((res.socket as TLSSocket).localPort!);
        res.resume();
        if (res.statusCode === 200) heldOk++;
      });
      req.on('error', () => undefined);
    }, 1000);

    const traffic = new SteadyTraffic(`${ingress.url}/ping`, 20);
    traffic.start();
    await new Promise((r) => setTimeout(r, ROTATION_RUN_MS));
    await traffic.stop();
    clearInterval(held);
    agent.destroy();

    assert.deepEqual(traffic.failures.slice(0, 10), [], `${traffic.failures.length} failed of ${traffic.ok + traffic.failures.length}`);
    // 20/s asked; timers on a shared 2-core machine deliver somewhat less: at least 10/s ran throughout.
    assert.ok(traffic.ok >= 10 * (ROTATION_RUN_MS / 1000), `steady traffic ran (${traffic.ok} requests)`);
    for (const u of statusPages()) {
      const c = (await getJson(`${u}/status`)).certificate;
      assert.ok(c.issued >= 5, `${u} renewed its certificate every half-life (${c.issued} obtained)`);
      assert.equal(c.lastError, null);
    }
    // The held connection was opened before the backend's first renewal (within 30 s) and served until the end (under a minute of certificate life of mine).
    assert.ok(heldOk >= 55, `the held connection kept serving (${heldOk} answers)`);
    assert.equal(ports.size, 1, 'one connection throughout: renewals did not cut it');
  });

  it('rotates the root with overlap while traffic flows: proxies trust both roots, move to the new one, and the old one is dropped', async () => {
    const oldIssuer = (await getJson(`${backend.adminUrl}/status`)).certificate.issuer as string;
    const traffic = new SteadyTraffic(`${ingress.url}/ping`, 20);
    traffic.start();
    const r = await httpsCall(`${mixer.url}/v1/ca/rotate`, {
      method: 'POST',
      body: JSON.stringify({ propagate: '8s', overlap: '70s' }),
      headers: { authorization: 'Bearer admin-token-for-tests' },
      ca: mixer.roots,
    });
    assert.equal(r.status, 200, r.text);
    const roots = (JSON.parse(r.text) as { roots: Array<{ subject: string; signing: boolean }> }).roots;
    assert.equal(roots.length, 2);
    const newSubject = roots.find((x) => !x.signing)!.subject;
    const trusted = async (): Promise<number> => sumOf(parsePromText((await httpsCall(`${mixer.url}/metrics`)).text), 'mixer_ca_roots_trusted');
    assert.equal(await trusted(), 2);
    // Every proxy's next certificate comes from the new root (after the propagation time, at its half-life).
    for (const u of statusPages())
      await waitFor(`${u} on the new root`, async () => (await getJson(`${u}/status`)).certificate.issuer === newSubject, 90_000, 500);
    // The old root leaves the trust bundle after the overlap; certificates it signed have all expired by then.
    await waitFor('the old root dropped', async () => (await trusted()) === 1, 90_000, 1000);
    await new Promise((r2) => setTimeout(r2, 10_000));
    await traffic.stop();
    assert.notEqual(newSubject, oldIssuer);
    const bundle = (JSON.parse((await httpsCall(`${mixer.url}/v1/ca/roots`)).text) as { roots: string[] }).roots;
    assert.equal(bundle.length, 1);
    assert.equal(new X509Certificate(bundle[0]).subject, newSubject);
    assert.deepEqual(traffic.failures.slice(0, 10), [], `${traffic.failures.length} failed of ${traffic.ok + traffic.failures.length}`);
    assert.ok(traffic.ok > 1000);
  });
});
