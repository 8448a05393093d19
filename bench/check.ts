/**
 * `npm run bench -- check`: the check path's throughput and latency beside a bare Node `http` server.
 *
 * Each target (the bare server, then Mixer with 10, 100 and 1,000 rules) runs alone as a child process
 * and gets the same load: the same autocannon client in this process, the same connections, duration
 * and pipelining 1, cycling through ~1 KB attribute bags. Before the load every body's verdict is
 * checked against the generator's own model of the config; during it, any non-2xx answer or a verdict
 * mix that drifts from the expected one fails the bench (a fast wrong answer is worth nothing).
 * No result caching is involved: Mixer decides every request afresh.
 * Then (unless `--observe false`) the cost of the live tap and decision logs: see check-observe.ts.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { generateBodies, generateConfig } from './check-fixtures';
import type { BodySet } from './check-fixtures';
import { freePort, loadServer, startServer } from './load';
import type { LoadResult, ServerProcess } from './load';
import type { BenchOptions } from './options';
import { observeTable, runObserveVariants, OBSERVE_VARIANTS } from './check-observe';
import type { ObserveRun } from './check-observe';

const REPO = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(REPO, 'bench', 'results');
/** A verdict's share under load may differ from its share of the bodies by this much. */
const MIX_TOLERANCE = 0.03;

/** Targets of the DESIGN brief, as read from this bench's ratios. */
const TARGETS = { mixer100OverBare: 0.5, mixer1000OverMixer10: 0.8, p99At100Ms: 5 };

interface MixerRun extends LoadResult {
  rules: number;
  expectedMix: Record<string, number>;
  observedMix: Record<string, number>;
}

async function postJson(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** `mixer_check_results_total` by code, read from the server's /metrics. */
async function checkResults(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^mixer_check_results_total\{code="(\d+)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** Every answer under load must be a 200: a bench whose answers are errors measures nothing. */
function assertClean(name: string, r: LoadResult): void {
  const other = Object.keys(r.statusCodes).filter((code) => code !== '200');
  if (other.length > 0 || r.non2xx > 0 || r.errors > 0 || r.timeouts > 0 || r.total === 0) {
    throw new Error(
      `${name}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts out of ${r.total} (status codes ${JSON.stringify(r.statusCodes)}); the figures are worthless`,
    );
  }
}

/** Every body once, one at a time: each must be a 200 with the verdict the model predicts. */
async function verifyVerdicts(server: ServerProcess, set: BodySet): Promise<void> {
  const wrong: string[] = [];
  for (let i = 0; i < set.bodies.length; i++) {
    const r = await postJson(`${server.url}/v1/check`, set.bodies[i]);
    const code = (r.json as { status?: { code?: unknown } } | undefined)?.status?.code;
    if (r.status !== 200 || code !== set.expected[i])
      wrong.push(`body ${i}: HTTP ${r.status}, code ${String(code ?? JSON.stringify(r.json))}, expected 200 with code ${set.expected[i]}`);
  }
  if (wrong.length > 0)
    throw new Error(`${server.name}: ${wrong.length}/${set.bodies.length} verdicts differ from the model:\n  ${wrong.slice(0, 10).join('\n  ')}`);
}

function mixOf(counts: Record<string, number>): Record<string, number> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const out: Record<string, number> = {};
  for (const [code, n] of Object.entries(counts)) if (n > 0) out[code] = n / total;
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [code, n] of Object.entries(after)) out[code] = n - (before[code] ?? 0);
  return out;
}

function checkMix(name: string, expected: Record<string, number>, observed: Record<string, number>): void {
  for (const code of new Set([...Object.keys(expected), ...Object.keys(observed)])) {
    const e = expected[code] ?? 0;
    const o = observed[code] ?? 0;
    if (Math.abs(e - o) > MIX_TOLERANCE) throw new Error(`${name}: verdict ${code} was ${pct(o)} of answers under load, expected ${pct(e)}`);
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const fmtInt = (x: number): string => Math.round(x).toLocaleString('en-US');
const fmtMs = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a');

/** Writes a config dir of `rules` rules (with the default attribute manifest) and makes its bodies. */
function prepare(rules: number, root: string, bodyCount: number): { rules: number; dir: string; bodies: BodySet } {
  const dir = path.join(root, `rules-${rules}`);
  mkdirSync(dir);
  copyFileSync(path.join(REPO, 'rules', 'attributes.yaml'), path.join(dir, 'attributes.yaml'));
  const generated = generateConfig(rules);
  for (const [name, text] of Object.entries(generated.files)) writeFileSync(path.join(dir, name), text);
  return { rules, dir, bodies: generateBodies(generated, bodyCount) };
}

interface Setup {
  connections: number;
  duration: number;
  warmup: number;
  cpu: number | undefined;
  profileDir: string | undefined;
  /** The `mixer` bin to run (default this checkout's `bin/mixer.js`). */
  mixerBin: string;
}

const profileArgs = (s: Setup, name: string): string[] =>
  s.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${s.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];

async function measureBare(s: Setup, bodies: readonly string[], round: number): Promise<LoadResult> {
  const port = await freePort();
  const bare = await startServer({
    name: 'bare node http',
    args: [...profileArgs(s, `bare-${round}`), path.join(__dirname, 'bare-server.js'), '--host', '127.0.0.1', '--port', String(port)],
    port,
    cpu: s.cpu,
    ready: async (url) => (await postJson(url, bodies[0])).status === 200,
  });
  let run: LoadResult;
  try {
    run = await loadServer(bare, { connections: s.connections, duration: s.duration, warmup: s.warmup, path: '/v1/check', bodies });
  } finally {
    await bare.stop();
  }
  assertClean('bare', run);
  return run;
}

async function measureMixer(s: Setup, c: { rules: number; dir: string; bodies: BodySet }, round: number): Promise<MixerRun> {
  const port = await freePort();
  const name = `mixer @${c.rules} rules`;
  const mixer = await startServer({
    name,
    args: [...profileArgs(s, `mixer-${c.rules}-rules-${round}`), s.mixerBin, 'serve', '--host', '127.0.0.1', '--port', String(port)],
    env: { MIXER_CONFIG_DIR: c.dir, REDIS_URL: '', MIXER_LOG_LEVEL: 'warn', MIXER_GRPC_PORT: '0' },
    port,
    cpu: s.cpu,
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
  });
  let run: LoadResult;
  let observedMix: Record<string, number>;
  try {
    await verifyVerdicts(mixer, c.bodies);
    let before: Record<string, number> = {};
    run = await loadServer(mixer, {
      connections: s.connections,
      duration: s.duration,
      warmup: s.warmup,
      path: '/v1/check',
      bodies: c.bodies.bodies,
      beforeMeasure: async () => {
        before = await checkResults(mixer.url);
      },
    });
    observedMix = mixOf(delta(await checkResults(mixer.url), before));
  } catch (err) {
    process.stderr.write(mixer.output());
    throw err;
  } finally {
    await mixer.stop();
  }
  assertClean(name, run);
  const expectedMix: Record<string, number> = {};
  for (const [code, share] of Object.entries(c.bodies.mix)) expectedMix[code] = share;
  checkMix(name, expectedMix, observedMix);
  return { ...run, rules: c.rules, expectedMix, observedMix };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The median of each figure over rounds (each figure on its own). */
function medianOf<T extends LoadResult>(runs: T[]): T {
  if (runs.length === 1) return runs[0];
  const out = { ...runs[runs.length >> 1] };
  for (const k of ['reqPerSec', 'p50', 'p99', 'max', 'total', 'serverCpu', 'serverUsPerReq', 'clientCpu'] as const) out[k] = median(runs.map((r) => r[k]));
  return out;
}

function line(name: string, r: LoadResult, extra = ''): string {
  return `  ${name.padEnd(19)} ${fmtInt(r.reqPerSec).padStart(8)} req/s  p99 ${fmtMs(r.p99)} ms  server cpu ${pct(r.serverCpu)} (${r.serverUsPerReq.toFixed(1)} µs/req)  client cpu ${pct(r.clientCpu)}${extra}`;
}

/** Runs the check bench; throws when any answer is wrong. */
export async function runCheckBench(o: BenchOptions): Promise<void> {
  const ruleCounts = String(o.flags.rules ?? '10,100,1000')
    .split(',')
    .map(Number);
  if (ruleCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--rules needs a comma-separated list of positive integers');
  const bodyCount = Number(o.flags.bodies ?? 256);
  const rounds = Number(o.flags.rounds ?? 1);
  const pin = o.flags.pin === true || o.flags.pin === 'true';
  const profile = o.flags.profile === true || o.flags.profile === 'true';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const setup: Setup = {
    connections: o.connections,
    duration: o.duration,
    warmup: Number(o.flags.warmup ?? 2),
    cpu: pin ? 1 : undefined,
    profileDir: profile ? path.join(RESULTS_DIR, `profiles-${stamp}`) : undefined,
    mixerBin: path.resolve(String(o.flags['mixer-bin'] ?? path.join(REPO, 'bin', 'mixer.js'))),
  };
  if (pin) execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const root = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-check-'));
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  log(
    `check bench: ${o.connections} connections, ${o.duration} s measured after ${setup.warmup} s warm-up, pipelining 1, ${bodyCount} distinct bodies, ` +
      `${rounds} round(s)${pin ? ', server pinned to cpu 1, client to cpu 0' : ''}`,
  );
  try {
    const configs = ruleCounts.map((n) => prepare(n, root, bodyCount));
    const sample = configs[0].bodies;
    const avgBytes = sample.bodies.reduce((a, b) => a + Buffer.byteLength(b), 0) / sample.bodies.length;
    log(`bodies: ~${Math.round(avgBytes)} bytes each; config dirs under ${root}`);
    // Figures from a shared machine are only as good as its quiet: say how busy it was (the bench itself
    // keeps about two cores busy, so the load average after it is ~2 on a quiet machine).
    const loadBefore = os.loadavg()[0];
    log(`load average (1 min) before: ${loadBefore.toFixed(2)} on ${os.cpus().length} cpus`);
    const bareRuns: LoadResult[] = [];
    const mixerRuns = new Map<number, MixerRun[]>(configs.map((c) => [c.rules, []]));
    // `--observe only`: just the observer runs (tap and decision-log work needs no bare/rules figures).
    const observeOnly = o.flags.observe === 'only';
    for (let round = 1; round <= (observeOnly ? 0 : rounds); round++) {
      if (rounds > 1) log(`round ${round}/${rounds}`);
      const bare = await measureBare(setup, sample.bodies, round);
      bareRuns.push(bare);
      log(line('bare node http', bare));
      for (const c of configs) {
        const run = await measureMixer(setup, c, round);
        mixerRuns.get(c.rules)!.push(run);
        log(
          line(
            `mixer @${c.rules} rules`,
            run,
            `  verdicts ${Object.entries(run.observedMix)
              .map(([code, x]) => `${code}:${pct(x)}`)
              .join(' ')}`,
          ),
        );
      }
    }
    const bare = observeOnly ? undefined : medianOf(bareRuns);
    const runs = observeOnly ? [] : configs.map((c) => medianOf(mixerRuns.get(c.rules)!));
    const at = (n: number): MixerRun | undefined => runs.find((r) => r.rules === n);
    const ratios = {
      mixer100OverBare: at(100) && bare ? at(100)!.reqPerSec / bare.reqPerSec : undefined,
      mixer1000OverMixer10: at(1000) && at(10) ? at(1000)!.reqPerSec / at(10)!.reqPerSec : undefined,
      p99At100Ms: at(100)?.p99,
    };
    // The live tap and decision logs: their cost at one config (100 rules when measured), as ratios to no tap.
    let observe: ObserveRun[] | undefined;
    let observeRounds: ObserveRun[][] | undefined;
    if (o.flags.observe !== 'false') {
      const c = configs.find((x) => x.rules === 100) ?? configs[0];
      log(`\nobservers @${c.rules} rules: no tap, idle tap, full tap, decisionlog (sample 1.0 to a Redis stream)`);
      observeRounds = await runObserveVariants(setup, c.dir, c.bodies, rounds, log);
      observe = OBSERVE_VARIANTS.map((v) => ({ ...medianOf(observeRounds!.map((r) => r.find((x) => x.variant === v)!)), variant: v }));
    }
    const loadAfter = os.loadavg()[0];
    if (rounds > 1) log(`\nmedians of ${rounds} rounds:`);
    if (bare) printTable(bare, runs, ratios);
    if (observe) process.stdout.write(observeTable(observe));
    log(
      `load average (1 min) after: ${loadAfter.toFixed(2)}${loadAfter > os.cpus().length + 0.5 ? ' (more than this bench was running: compare ratios, re-run for absolute figures)' : ''}`,
    );
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `check-${stamp}.json`);
    const result = {
      bench: 'check',
      timestamp: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      options: {
        connections: o.connections,
        duration: o.duration,
        warmup: setup.warmup,
        pipelining: 1,
        bodies: bodyCount,
        avgBodyBytes: Math.round(avgBytes),
        rounds,
        pin,
        mixerBin: setup.mixerBin,
      },
      loadAverage: { before: loadBefore, after: loadAfter },
      bare,
      mixer: runs,
      ratios,
      targets: TARGETS,
      observe: observe && { runs: observe, ratios: Object.fromEntries(observe.map((r) => [r.variant, r.reqPerSec / observe[0].reqPerSec])) },
      rounds: { bare: bareRuns, mixer: Object.fromEntries(mixerRuns), observe: observeRounds },
    };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`\nresults: ${path.relative(process.cwd(), file)}${setup.profileDir ? `\nprofiles: ${path.relative(process.cwd(), setup.profileDir)}` : ''}`);
  } finally {
    if (o.flags['keep-config'] === undefined) rmSync(root, { recursive: true, force: true });
  }
}

function printTable(bare: LoadResult, runs: MixerRun[], ratios: { mixer100OverBare?: number; mixer1000OverMixer10?: number; p99At100Ms?: number }): void {
  const rows: string[][] = [['target', 'req/s', 'p50 ms', 'p99 ms', 'server cpu', 'client cpu', 'vs bare']];
  rows.push(['bare node http', fmtInt(bare.reqPerSec), fmtMs(bare.p50), fmtMs(bare.p99), pct(bare.serverCpu), pct(bare.clientCpu), '1.00']);
  for (const r of runs) {
    rows.push([
      `mixer @${r.rules} rules`,
      fmtInt(r.reqPerSec),
      fmtMs(r.p50),
      fmtMs(r.p99),
      pct(r.serverCpu),
      pct(r.clientCpu),
      (r.reqPerSec / bare.reqPerSec).toFixed(2),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  const out = ['', line(rows[0]), ...rows.slice(1).map(line), ''];
  const verdict = (v: number | undefined, ok: (v: number) => boolean): string => (v === undefined ? 'n/a' : ok(v) ? 'met' : 'MISSED');
  const fmt = (v: number | undefined, d: number): string => (v === undefined ? 'n/a' : v.toFixed(d));
  out.push(
    `Mixer@100 / bare        ${fmt(ratios.mixer100OverBare, 3).padStart(6)}   target >= ${TARGETS.mixer100OverBare}   ${verdict(ratios.mixer100OverBare, (v) => v >= TARGETS.mixer100OverBare)}`,
  );
  out.push(
    `Mixer@1000 / Mixer@10   ${fmt(ratios.mixer1000OverMixer10, 3).padStart(6)}   target >= ${TARGETS.mixer1000OverMixer10}   ${verdict(ratios.mixer1000OverMixer10, (v) => v >= TARGETS.mixer1000OverMixer10)}`,
  );
  out.push(
    `p99 @100 rules (ms)     ${fmt(ratios.p99At100Ms, 2).padStart(6)}   target <= ${TARGETS.p99At100Ms}     ${verdict(ratios.p99At100Ms, (v) => v <= TARGETS.p99At100Ms)}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
