/**
 * The processes of the mesh bench: Mixer (default config plus DESIGN.md's deny rule, which does not
 * match the bench's caller), the demo backend app, two bare Node proxies in a row (the baseline),
 * and a client and a server sidecar in a row. Every one is a child, stopped by pid.
 */
import { randomBytes } from 'node:crypto';
import * as https from 'node:https';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startServer } from './load';
import type { ServerProcess } from './load';
import { DENY_FRONTEND_TO_BACKEND } from '../test/support/config-dir';
import { issueCert, peerAuthentication } from '../test/support/mtls';

const REPO = path.resolve(__dirname, '..', '..');
const MIXER = path.join(REPO, 'bin', 'mixer.js');
const APP = path.join(REPO, 'dist', 'src', 'mesh', 'demo', 'app.js');
const BARE_PROXY = path.join(__dirname, 'bare-proxy.js');

/** How to start the mesh bench's processes. */
export interface MeshBenchStart {
  /** Write a CPU profile of Mixer and of each proxy (bare and sidecar) here when it stops (`node --cpu-prof`). */
  profileDir?: string;
  /** Another build's `bin/mixer.js`: its sidecars run as a second pair, measured in the same rounds. */
  compareBin?: string;
  /**
   * Mutual TLS: Mixer's CA on, a mesh-wide STRICT PeerAuthentication, and the bare proxies talking
   * mutual TLS to each other with certificates from the same CA (identities bench-client and backend).
   */
  mtls?: boolean;
}

/** A client sidecar and a server sidecar in a row, in front of the app. */
export interface SidecarPair {
  /** The client sidecar's outbound port: send with `Host: <host>`. */
  port: number;
  host: string;
  /** [client, server]. */
  procs: ServerProcess[];
  /** The server sidecar's status page. */
  serverStatusUrl: string;
}

/** Where the load goes for each target, and the processes whose CPU counts. */
export interface MeshBenchSetup {
  appPort: number;
  /** First of the two bare proxies. */
  bareProxyPort: number;
  bareProxies: ServerProcess[];
  /** With `mtls`: the second bare proxy's `{"handshakes"}` page. */
  bareStatusUrl?: string;
  /** This build's sidecars (server service `backend`). */
  mesh: SidecarPair;
  /** The `compareBin` build's sidecars (server service `backend-b`), when asked for. */
  compare?: SidecarPair;
  mixer: ServerProcess;
  stop(): Promise<void>;
}

const ok = async (url: string): Promise<boolean> => (await fetch(url)).ok;
/** A 200 over https, not verifying (the bench asks its own Mixer whether it is up). */
const okTls = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('error', () => resolve(false));
  });

/** Writes key.pem, cert.pem and ca.pem of a certificate from the mesh CA for `sa` into `dir`. */
async function meshCertFiles(mixerUrl: string, meshKey: string, sa: string, dir: string): Promise<void> {
  const c = await issueCert(mixerUrl, meshKey, 'default', sa);
  if (c.status !== 200) throw new Error(`the CA refused a certificate for ${sa}: ${c.text}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'key.pem'), c.key, { mode: 0o600 });
  writeFileSync(path.join(dir, 'cert.pem'), c.cert);
  writeFileSync(path.join(dir, 'ca.pem'), (JSON.parse(c.text) as { roots: string[] }).roots.join(''));
}

/** Starts everything; on failure stops what started. */
export async function startMeshBench(o: MeshBenchStart = {}): Promise<MeshBenchSetup> {
  const profile = (name: string): string[] => (o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
  const work = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-mesh-'));
  const configDir = path.join(work, 'config');
  mkdirSync(configDir);
  for (const f of readdirSync(path.join(REPO, 'rules'))) if (/\.ya?ml$/.test(f)) copyFileSync(path.join(REPO, 'rules', f), path.join(configDir, f));
  writeFileSync(path.join(configDir, 'deny.yaml'), DENY_FRONTEND_TO_BACKEND);
  if (o.mtls) writeFileSync(path.join(configDir, 'peer-authentication.yaml'), peerAuthentication('default', 'istio-system', 'STRICT'));
  const meshKey = randomBytes(24).toString('hex');
  const env = {
    MIXER_MESH_KEY: meshKey,
    MIXER_CONFIG_DIR: configDir,
    MIXER_LOG_LEVEL: 'warn',
    REDIS_URL: '',
    ZIPKIN_URL: '',
    MIXER_GRPC_PORT: '0',
    ...(o.mtls ? { MIXER_CA: 'on' } : {}),
  };
  const procs: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await p.stop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const [mixerPort, appPort, p1, p2] = await Promise.all(Array.from({ length: 4 }, () => freePort()));
    const mixerUrl = `${o.mtls ? 'https' : 'http'}://127.0.0.1:${mixerPort}`;
    const mixer = await startServer({
      name: 'mixer',
      args: [...profile('mixer'), MIXER, 'serve', '--host', '127.0.0.1', '--port', String(mixerPort)],
      env,
      port: mixerPort,
      ready: () => (o.mtls ? okTls(`${mixerUrl}/readyz`) : ok(`${mixerUrl}/readyz`)),
    });
    procs.push(mixer);
    const tlsDir = path.join(work, 'tls');
    if (o.mtls) await Promise.all(['bench-client', 'backend'].map((sa) => meshCertFiles(mixerUrl, meshKey, sa, path.join(tlsDir, sa))));
    procs.push(
      await startServer({ name: 'app', args: [APP, '--role', 'backend', '--port', String(appPort)], env, port: appPort, ready: (u) => ok(`${u}/healthz`) }),
    );
    const bareAdmin = await freePort();
    const proxy = (port: number, upstream: number, tls: string[] = []): Promise<ServerProcess> =>
      startServer({
        name: `bare proxy :${port}`,
        args: [...profile(`bare-proxy-${port}`), BARE_PROXY, '--port', String(port), '--upstream', String(upstream), ...tls],
        env,
        port,
        ready: (u) => (tls.includes('--tls-listen') ? ok(`http://127.0.0.1:${bareAdmin}/`) : ok(`${u}/healthz`)),
      });
    const bare2 = await proxy(p2, appPort, o.mtls ? ['--tls-listen', path.join(tlsDir, 'backend'), '--admin-port', String(bareAdmin)] : []);
    const bare1 = await proxy(p1, p2, o.mtls ? ['--tls-upstream', path.join(tlsDir, 'bench-client')] : []);
    procs.push(bare2, bare1);
    const sidecar = async (bin: string, name: string, service: string): Promise<ServerProcess & { outboundPort: number }> => {
      const [inb, out, admin] = await Promise.all([freePort(), freePort(), freePort()]);
      const started = await startServer({
        name,
        args: [
          ...profile(name.replace(/\W+/g, '-')),
          bin,
          'sidecar',
          '--service',
          service,
          '--labels',
          `app=${service},version=v1`,
          '--app-port',
          String(appPort),
          '--inbound-port',
          String(inb),
          '--outbound-port',
          String(out),
          '--admin-port',
          String(admin),
          '--mixer',
          mixerUrl,
        ],
        env,
        port: admin,
        ready: async (u) => ((await (await fetch(`${u}/status`)).json()) as { registered: boolean }).registered === true,
      });
      procs.push(started);
      return Object.assign(started, { outboundPort: out });
    };
    const pair = async (bin: string, server: string, client: string, tag: string): Promise<SidecarPair> => {
      const s = await sidecar(bin, `server sidecar${tag}`, server);
      const c = await sidecar(bin, `client sidecar${tag}`, client);
      return { port: c.outboundPort, host: server, procs: [c, s], serverStatusUrl: `${s.url}/status` };
    };
    const mesh = await pair(MIXER, 'backend', 'bench-client', '');
    const compare = o.compareBin ? await pair(path.resolve(o.compareBin), 'backend-b', 'bench-client-b', ' (compared)') : undefined;
    return {
      appPort,
      bareProxyPort: p1,
      bareProxies: [bare1, bare2],
      bareStatusUrl: o.mtls ? `http://127.0.0.1:${bareAdmin}/` : undefined,
      mesh,
      compare,
      mixer,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
