/**
 * `npm run demo`: the seed's story on one machine. Starts Mixer (Redis when REDIS_URL is set,
 * embedded otherwise), the ingress, a frontend and a backend v1 and v2 (each app with its sidecar)
 * and a traffic generator; prints where to look and the commands of the story; stops every child
 * by pid on Ctrl-C.
 *
 * Settings: MIXER_PORT (default 9091), DEMO_INGRESS_PORT (default 8080), DEMO_RATE (requests/s,
 * default 5), REDIS_URL, ZIPKIN_URL, MIXER_ADMIN_TOKEN (default: a random one, printed), DEMO_MTLS
 * (default on: Mixer's CA on, every proxy with a workload certificate, mutual TLS STRICT mesh-wide;
 * `off` runs the plaintext mesh with signed identity headers).
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { freePort, portIsFree } from '../../base/ports';
import * as os from 'node:os';
import * as path from 'node:path';
import { storyText, writeStoryFiles } from './story';
import { startTraffic } from './traffic';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The demo's mesh-wide policy: mutual TLS required between every workload. */
const MESH_STRICT = `# Mutual TLS between every workload of the mesh: plaintext callers are refused (docs/security.md).
apiVersion: mixer/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
`;

/** The package root: the nearest parent holding package.json and bin/mixer.js. */
function findRepo(from: string): string {
  for (let d = from; d !== path.dirname(d); d = path.dirname(d))
    if (existsSync(path.join(d, 'bin', 'mixer.js')) && existsSync(path.join(d, 'package.json'))) return d;
  throw new Error('cannot find the mixer package root');
}

async function wantPort(name: string, raw: string | undefined, def: number): Promise<number> {
  const port = raw ? Number(raw) : def;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(raw)}`);
  if (!(await portIsFree(port))) throw new Error(`port ${port} is in use: set ${name} to another port`);
  return port;
}

/** GETs `url` (https without verifying: the demo only asks whether its own Mixer is up yet) and answers the body of a 200, else undefined. */
function probe(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const onAnswer = (res: http.IncomingMessage): void => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(res.statusCode === 200 ? text : undefined));
    };
    const req = url.startsWith('https:') ? https.get(url, { rejectUnauthorized: false }, onAnswer) : http.get(url, onAnswer);
    req.on('error', () => resolve(undefined));
  });
}

async function waitHttp(url: string, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}; see its log`);
    if ((await probe(url)) !== undefined) return;
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000}s; see its log`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const repo = findRepo(__dirname);
  const mixerBin = path.join(repo, 'bin', 'mixer.js');
  const appJs = path.join(__dirname, 'app.js');
  const mixerPort = await wantPort('MIXER_PORT', process.env.MIXER_PORT, 9091);
  const ingressPort = await wantPort('DEMO_INGRESS_PORT', process.env.DEMO_INGRESS_PORT, 8080);
  const work = mkdtempSync(path.join(os.tmpdir(), 'mixer-demo-'));
  const configDir = path.join(work, 'config');
  const storyDir = path.join(work, 'story');
  const logDir = path.join(work, 'logs');
  for (const d of [configDir, storyDir, logDir]) mkdirSync(d);
  for (const f of readdirSync(path.join(repo, 'rules'))) if (/\.ya?ml$/.test(f)) copyFileSync(path.join(repo, 'rules', f), path.join(configDir, f));
  writeStoryFiles(storyDir);
  const adminToken = process.env.MIXER_ADMIN_TOKEN || randomBytes(12).toString('hex');
  const mtls = !/^(off|0|false|no)$/i.test(process.env.DEMO_MTLS ?? 'on');
  const mixerUrl = `${mtls ? 'https' : 'http'}://127.0.0.1:${mixerPort}`;
  if (mtls) writeFileSync(path.join(configDir, 'peer-authentication.yaml'), MESH_STRICT);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(mtls ? { MIXER_CA: 'on' } : {}),
    MIXER_MESH_KEY: process.env.MIXER_MESH_KEY || randomBytes(24).toString('hex'),
    MIXER_ADMIN_TOKEN: adminToken,
    MIXER_CONFIG_DIR: configDir,
    MIXER_KEY_PREFIX: process.env.MIXER_KEY_PREFIX || 'mixer-demo:',
    MIXER_LOG_LEVEL: process.env.MIXER_LOG_LEVEL || 'info',
  };
  const children: Array<{ name: string; child: ChildProcess }> = [];
  const start = (name: string, args: string[]): ChildProcess => {
    const log = openSync(path.join(logDir, `${name}.log`), 'a');
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', log, log] });
    children.push({ name, child });
    return child;
  };

  let stopTraffic: (() => void) | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    stopTraffic?.();
    say('\nstopping the demo...');
    for (const { child } of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    }
    if (code === 0) rmSync(work, { recursive: true, force: true });
    else say(`logs kept in ${logDir}`);
    say('stopped.');
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    say(`starting Mixer on ${mixerUrl} (${process.env.REDIS_URL ? `Redis at ${process.env.REDIS_URL}` : 'embedded queue, no Redis'}); logs in ${logDir}`);
    const mixer = start('mixer', [mixerBin, 'serve', '--host', '127.0.0.1', '--port', String(mixerPort)]);
    await waitHttp(`${mixerUrl}/readyz`, mixer, 'Mixer');
    let rootFile: string | undefined;
    if (mtls) {
      const roots = JSON.parse((await probe(`${mixerUrl}/v1/ca/roots`)) ?? '{"roots":[]}') as { roots: string[] };
      rootFile = path.join(work, 'mesh-root.pem');
      writeFileSync(rootFile, roots.roots.join(''));
      say(
        `mutual TLS on: Mixer's CA signs every proxy's certificate; PeerAuthentication STRICT mesh-wide (${path.join(configDir, 'peer-authentication.yaml')})`,
      );
    }
    const statusPages: string[] = [];
    const service = async (role: 'frontend' | 'backend', version: string): Promise<ChildProcess> => {
      const [app, inbound, outbound, admin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
      start(`${role}-${version}`, [appJs, '--role', role, '--port', String(app), '--version', version, '--outbound-port', String(outbound)]);
      const sidecar = start(`${role}-${version}-sidecar`, [
        mixerBin,
        'sidecar',
        '--service',
        role,
        '--labels',
        `app=${role},version=${version}`,
        '--app-port',
        String(app),
        '--inbound-port',
        String(inbound),
        '--outbound-port',
        String(outbound),
        '--admin-port',
        String(admin),
        '--mixer',
        mixerUrl,
      ]);
      statusPages.push(`http://127.0.0.1:${admin}/status   ${role} ${version}'s sidecar (check cache, reports, route rules)`);
      await waitHttp(`http://127.0.0.1:${admin}/healthz`, sidecar, `${role} ${version}'s sidecar`);
      return sidecar;
    };
    say('starting backend v1 and v2 and frontend, each with its sidecar...');
    await Promise.all([service('backend', 'v1'), service('backend', 'v2'), service('frontend', 'v1')]);
    const ingressAdmin = await freePort();
    const ingress = start('ingress', [
      mixerBin,
      'ingress',
      '--port',
      String(ingressPort),
      '--route',
      '/=frontend',
      '--admin-port',
      String(ingressAdmin),
      '--mixer',
      mixerUrl,
    ]);
    await waitHttp(`http://127.0.0.1:${ingressAdmin}/healthz`, ingress, 'the ingress');
    statusPages.push(`http://127.0.0.1:${ingressAdmin}/status   the ingress`);
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    stopTraffic = startTraffic({ url: ingressUrl, rate: Number(process.env.DEMO_RATE ?? 5), print: say });
    say(
      storyText({
        mixerUrl,
        ingressUrl,
        adminToken,
        storyDir,
        configDir,
        zipkinUrl: process.env.ZIPKIN_URL,
        statusPages,
        redis: process.env.REDIS_URL ? 'Redis' : 'embedded queue',
        rootFile,
        meshKey: env.MIXER_MESH_KEY,
      }),
    );
    for (const { name, child } of children) {
      child.once('exit', (code) => {
        if (!stopping) {
          say(`${name} exited (${code}); see ${path.join(logDir, `${name}.log`)}. Stopping.`);
          void stop(1);
        }
      });
    }
  } catch (err) {
    say(`demo failed: ${(err as Error).message} (logs: ${logDir})`);
    await stop(1);
  }
}

void main();
