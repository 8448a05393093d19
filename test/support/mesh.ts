import * as path from 'node:path';
import { MIXER_BIN, REPO, freePort, spawnNode } from './processes';
import type { TestProcess } from './processes';
import { waitFor } from './wait';

/** The demo app script (compiled). */
export const DEMO_APP = path.join(REPO, 'dist', 'src', 'mesh', 'demo', 'app.js');

/** GETs JSON (throws on a non-2xx answer). */
export async function getJson(url: string): Promise<any> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** A demo app with its sidecar. */
export interface MeshService {
  app: TestProcess;
  sidecar: TestProcess;
  inboundPort: number;
  outboundPort: number;
  /** The sidecar's status page. */
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts a demo app (`frontend` or `backend`) and its sidecar (with an admin port), and waits
 * until the sidecar is registered with Mixer.
 */
export async function startMeshService(
  env: NodeJS.ProcessEnv,
  mixerUrl: string,
  role: 'frontend' | 'backend',
  version: string,
  extraArgs: string[] = [],
): Promise<MeshService> {
  const [appPort, inboundPort, outboundPort, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const app = spawnNode([DEMO_APP, '--role', role, '--port', String(appPort), '--version', version, '--outbound-port', String(outboundPort)], env);
  const sidecar = spawnNode(
    [
      MIXER_BIN,
      'sidecar',
      '--service',
      role,
      '--labels',
      `app=${role},version=${version}`,
      '--app-port',
      String(appPort),
      '--inbound-port',
      String(inboundPort),
      '--outbound-port',
      String(outboundPort),
      '--admin-port',
      String(adminPort),
      '--mixer',
      mixerUrl,
      ...extraArgs,
    ],
    env,
  );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(
      `${role} ${version} sidecar registered`,
      async () => {
        if (sidecar.child.exitCode !== null) throw new Error(`sidecar exited: ${sidecar.output()}`);
        return (await getJson(`${adminUrl}/status`)).registered === true;
      },
      30_000,
      100,
    );
  } catch (err) {
    await Promise.all([app.stop(), sidecar.stop()]);
    throw new Error(`${(err as Error).message}\n${sidecar.output()}`, { cause: err });
  }
  return { app, sidecar, inboundPort, outboundPort, adminUrl, stop: async () => void (await Promise.all([sidecar.stop(), app.stop()])) };
}

/** The ingress, started with routes and an admin port. */
export interface MeshIngress {
  proc: TestProcess;
  url: string;
  adminUrl: string;
}

export async function startMeshIngress(env: NodeJS.ProcessEnv, mixerUrl: string, routes: string[]): Promise<MeshIngress> {
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const proc = spawnNode(
    [MIXER_BIN, 'ingress', '--port', String(port), '--admin-port', String(adminPort), '--mixer', mixerUrl, ...routes.flatMap((r) => ['--route', r])],
    env,
  );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitFor(
    'the ingress',
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`ingress exited: ${proc.output()}`);
      return (await getJson(`${adminUrl}/status`)).configGeneration !== null;
    },
    30_000,
    100,
  );
  return { proc, url: `http://127.0.0.1:${port}`, adminUrl };
}

/** Mixer's live config generation. */
export async function mixerGeneration(mixerUrl: string): Promise<number> {
  return (await getJson(`${mixerUrl}/v1/config/status`)).generation as number;
}

/**
 * Runs `change` (a config file write), waits until Mixer has loaded a newer generation (failing
 * if the reload was rejected), then until every proxy's status page shows it.
 */
export async function applyConfig(mixerUrl: string, adminUrls: string[], change: () => void, timeoutMs = 15_000): Promise<number> {
  const before = await mixerGeneration(mixerUrl);
  change();
  const gen = await waitFor(
    'Mixer to load the change',
    async () => {
      const s = await getJson(`${mixerUrl}/v1/config/status`);
      if (s.lastReload && !s.lastReload.ok) throw new Error(`config rejected: ${JSON.stringify(s.lastReload.errors)}`);
      return s.generation > before ? (s.generation as number) : undefined;
    },
    timeoutMs,
    25,
  );
  for (const a of adminUrls)
    await waitFor(`${a} at config generation ${gen}`, async () => (await getJson(`${a}/status`)).configGeneration >= gen, timeoutMs, 50);
  return gen;
}

/** Runs `n` calls of `fn` with at most `concurrency` at a time; resolves with their results in order. */
export async function runConcurrently<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}
