import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from './processes';

/** Where the dashboard test looks for Prometheus: PROMETHEUS_BIN, then PATH, then Debian's /usr/bin/prometheus. */
export function findExecutable(name: string, envVar?: string): string | undefined {
  const candidates = [
    ...(envVar && process.env[envVar] ? [process.env[envVar]] : []),
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((d) => path.join(d, name)),
    path.join('/usr/bin', name),
  ];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

interface ScrapeConfig {
  job_name: string;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  [key: string]: unknown;
}

/**
 * The repo's scrape config made to run beside a test: the same jobs and settings, but each job named in
 * `targets` scrapes the given `host:port` (static) instead of its compose address or service discovery,
 * and every interval is `intervalSeconds`. Throws when the repo file lacks one of those jobs.
 */
export function testScrapeConfig(repoYaml: string, targets: Record<string, string>, intervalSeconds = 1): string {
  const doc = parse(repoYaml) as { global?: Record<string, unknown>; scrape_configs?: ScrapeConfig[] };
  const interval = `${intervalSeconds}s`;
  doc.global = { ...doc.global, scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval };
  const jobs = doc.scrape_configs ?? [];
  for (const [job, target] of Object.entries(targets)) {
    const sc = jobs.find((j) => j.job_name === job);
    if (!sc) throw new Error(`the repo's scrape config has no job "${job}" (jobs: ${jobs.map((j) => j.job_name).join(', ')})`);
    for (const key of Object.keys(sc)) if (key.endsWith('_sd_configs')) delete sc[key];
    sc.static_configs = [{ targets: [target] }];
    delete sc.scrape_interval;
    delete sc.scrape_timeout;
  }
  return stringify(doc);
}

/** A Prometheus server owned by one test: its config and TSDB live in a temp dir removed on stop. */
export interface PrometheusProcess {
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  output(): string;
  /** SIGTERM by pid (SIGKILL after 10 s), then removes the temp dir. Safe twice. */
  stop(): Promise<void>;
}

/** Starts `bin` with `configText` on a free 127.0.0.1 port and waits (up to 30 s) until /-/ready answers. */
export async function startPrometheus(bin: string, configText: string): Promise<PrometheusProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, configText);
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const proc: PrometheusProcess = {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    dir,
    output: () => out,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          process.kill(child.pid!, 'SIGTERM');
          const t = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, 'SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await proc.stop();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${out}`);
    }
    try {
      if ((await fetch(`${proc.url}/-/ready`)).ok) return proc;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`prometheus did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query's answer: `error` set when Prometheus refused the query. */
export interface PromAnswer {
  error?: string;
  resultType?: 'vector' | 'matrix' | 'scalar' | 'string';
  /** Vector series; a scalar answer becomes one series without labels. */
  samples: PromSample[];
}

/** Runs `expr` through Prometheus's HTTP API (`/api/v1/query`, evaluated now). */
export async function promQuery(url: string, expr: string): Promise<PromAnswer> {
  const r = await fetch(`${url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }).toString(),
  });
  const body = (await r.json()) as { status: string; error?: string; errorType?: string; data?: { resultType: PromAnswer['resultType']; result: unknown } };
  if (body.status !== 'success' || !body.data) return { error: `${body.errorType ?? r.status}: ${body.error ?? 'no data'}`, samples: [] };
  const { resultType, result } = body.data;
  if (resultType === 'vector') return { resultType, samples: result as PromSample[] };
  if (resultType === 'scalar') return { resultType, samples: [{ metric: {}, value: result as [number, string] }] };
  return { resultType, samples: [], error: `unexpected result type ${resultType} for an instant query` };
}

/** Samples whose value is a number (not NaN, not ±Inf): what a panel can draw. */
export function finiteSamples(answer: PromAnswer): PromSample[] {
  return answer.samples.filter((s) => Number.isFinite(Number(s.value[1])));
}
