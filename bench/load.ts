/**
 * Shared machinery of the benches: a server under test runs as a child process (so it has a core
 * of its own while the load generator runs here), is loaded with autocannon, and is stopped by pid.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The part of autocannon's options and result the benches use (the package ships no types). */
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: Array<{ method: string; path: string; body: string; headers?: Record<string, string> }>;
}
interface Histogram {
  mean: number;
  p50: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  requests: Histogram & { total: number };
  latency: Histogram;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
}
// autocannon ships no type declarations: typed here by hand, loaded with require().
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: AutocannonOptions) => Promise<AutocannonResult>;

/** A free TCP port on 127.0.0.1 (the tests' helper). */
export { freePort } from '../test/support/processes';

/** A server under test, started by {@link startServer}. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** stdout + stderr so far (last 64 KB). */
  output(): string;
  /** CPU seconds (user + system) the process has used so far; NaN where /proc is not available. */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds (user + system) a process has used so far, from /proc; NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

export interface StartOptions {
  name: string;
  /** Arguments to `node` (flags, then the script and its arguments). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  port: number;
  /** True once the server answers; polled every 50 ms. */
  ready: (url: string) => Promise<boolean>;
  /** Longest wait for `ready`, ms (default 60 s). */
  readyTimeoutMs?: number;
  /** Pin the child to this CPU (taskset), or leave it to the scheduler. */
  cpu?: number;
}

/** Starts `node <args>` and waits until `ready`; throws (after killing it) if it exits or never gets ready. */
export async function startServer(o: StartOptions): Promise<ServerProcess> {
  const cmd = o.cpu === undefined ? process.execPath : 'taskset';
  const args = o.cpu === undefined ? o.args : ['-c', String(o.cpu), process.execPath, ...o.args];
  const child: ChildProcess = spawn(cmd, args, { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid!;
  const url = `http://127.0.0.1:${o.port}`;
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const stop = async (): Promise<void> => {
    if (gone()) return;
    process.kill(pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (!gone()) process.kill(pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (gone()) throw new Error(`${o.name} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${out}`);
    if (await o.ready(url).catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${o.name} was not ready after ${o.readyTimeoutMs ?? 60_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: o.name, pid, url, output: () => out, cpuSeconds: () => cpuSecondsOf(pid), stop };
}

/** One measured load run. */
export interface LoadResult {
  /** Mean of the per-second request counts. */
  reqPerSec: number;
  /** Latency, ms. */
  p50: number;
  p99: number;
  max: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Share of one core the server used while measured (1 = one core busy all the time). */
  serverCpu: number;
  /** Server CPU time per answered request, µs: steadier than req/s when the machine is shared. */
  serverUsPerReq: number;
  /** Share of one core this process (the load generator) used while measured: near 1 means client-bound. */
  clientCpu: number;
}

export interface LoadOptions {
  connections: number;
  /** Seconds measured. */
  duration: number;
  /** Seconds of unmeasured load first (JIT, caches, connection set-up). */
  warmup: number;
  path: string;
  /** Bodies sent in turn by every connection (POST, application/json). */
  bodies: readonly string[];
  /** Runs between warm-up and the measured run (e.g. to snapshot server counters). */
  beforeMeasure?: () => Promise<void>;
}

/** Loads `server` with autocannon (pipelining 1): a warm-up, then the measured run. */
export async function loadServer(server: ServerProcess, o: LoadOptions): Promise<LoadResult> {
  const base = {
    url: server.url,
    connections: o.connections,
    pipelining: 1,
    requests: o.bodies.map((body) => ({ method: 'POST', path: o.path, body, headers: { 'content-type': 'application/json' } })),
  };
  if (o.warmup > 0) await autocannon({ ...base, duration: o.warmup });
  await o.beforeMeasure?.();
  const cpu0 = server.cpuSeconds();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await autocannon({ ...base, duration: o.duration });
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const own = process.cpuUsage(own0);
  const serverCpuSeconds = server.cpuSeconds() - cpu0;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count;
  return {
    reqPerSec: r.requests.mean,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    serverCpu: serverCpuSeconds / elapsed,
    serverUsPerReq: (serverCpuSeconds * 1e6) / r.requests.total,
    clientCpu: (own.user + own.system) / 1e6 / elapsed,
  };
}
