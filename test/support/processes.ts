import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from '../../src/base/ports';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const MIXER_BIN = path.join(REPO, 'bin', 'mixer.js');

/** A process started by a test; `stop` ends it by pid (SIGTERM, then SIGKILL after 5 s). */
export interface TestProcess {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `node <args>` with extra env; collects stdout+stderr. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): TestProcess {
  const child = spawn(process.execPath, args, { env: { ...process.env, MIXER_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** A free TCP port on 127.0.0.1 (the same helper `npm run demo` uses). */
export { freePort };

export interface MixerProcess extends TestProcess {
  port: number;
  url: string;
}

/** Starts `mixer serve` on a free port and waits until it answers /healthz. */
export async function startMixer(env: NodeJS.ProcessEnv, args: string[] = []): Promise<MixerProcess> {
  const port = await freePort();
  // The gRPC listener is off unless a test asks for it (tests run side by side: no fixed port).
  const p = spawnNode([MIXER_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), ...args], { MIXER_GRPC_PORT: '0', ...env });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`mixer exited with ${p.child.exitCode}:\n${p.output()}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await p.stop('SIGKILL');
      throw new Error(`mixer did not start:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(p, { port, url });
}

/** POSTs JSON and returns status and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* leave as text */
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

export interface WorkerProcess extends TestProcess {
  metricsUrl: string;
}

/** Starts `mixer worker` with its metrics on a free port and waits until it answers /readyz. */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const port = await freePort();
  const p = spawnNode([MIXER_BIN, 'worker', '--host', '127.0.0.1', '--metrics-port', String(port)], env);
  const metricsUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`mixer worker exited with ${p.child.exitCode}:\n${p.output()}`);
    try {
      if ((await fetch(`${metricsUrl}/readyz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await p.stop('SIGKILL');
      throw new Error(`mixer worker did not start:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(p, { metricsUrl });
}
