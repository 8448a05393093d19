/**
 * `npm run bench -- soak [--duration 60] [--warmup 30] [--probe 5] [--load 0.5 | --rate <req/s>]`: mixed check and report
 * load at about half of Mixer's capacity, with Redis: `--warmup` s not measured, then `--duration` s
 * measured; stops by itself.
 *
 * 1. Starts a private redis-server (append-only, on a free port) and `mixer serve` (Redis queue, its own
 *    report worker) on the default metrics and graph config plus a deny rule and a memquota rule, so a
 *    check does real work.
 * 2. Capacity probe (`--probe` s, closed loop, 32 connections): 80% checks, 20% reports of 20 bags.
 * 3. Soak: the same mix, open loop (sent on schedule whatever the answers do) at `--load` × the probe's rate.
 *    RSS of the Mixer process sampled every second; latency per 10 s window.
 *
 * Prints: the probe's rate and the soak's; per window, answers, p50/p99 and RSS; the RSS slope (least
 * squares, MB/min) over the measured part; p99 of the last window over the first after warm-up, raw and relative
 * to a baseline loaded meanwhile (a bare Node server, bench/bare-server.ts, at a tenth of the rate: the
 * machine's own latency noise); errors; bags answered 202 and counted. Verdict: errors 0, slope under
 * 1 MB/min, p99 drift relative to the baseline under 2, every 202'd bag counted once (exit 1 otherwise).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, startServer } from './load';
import { quantile } from './open-loop';
import type { BenchOptions } from './options';
import { DENY_FRONTEND_TO_BACKEND, TempConfigDir } from '../test/support/config-dir';
import { TestRedis } from '../test/support/redis-server';
import { BATCH, REPORT_SHARE, bodies, counted, drain, probe, slope, soak } from './soak-load';
import type { Outcome } from './soak-load';

const REPO = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(REPO, 'bench', 'results');
const WINDOW_S = 10;

const QUOTA = `apiVersion: mixer/v1
kind: Handler
metadata: {name: soak-quota}
spec:
  adapter: memquota
  params:
    quotas: [{name: soakquota, maxAmount: 1000000000000, validDuration: 1s}]
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: soakquota}
spec: {template: quota, params: {dimensions: {destination: destination.service.name | "unknown", source: 'source.labels["app"] | "unknown"'}}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: soak-quota}
spec:
  actions: [{handler: soak-quota, instances: [soakquota]}]
`;

/** Runs the soak and prints its figures (see the file's comment). */
export async function runSoakBench(o: BenchOptions): Promise<void> {
  const num = (name: string, fallback: number): number => (o.flags[name] === undefined ? fallback : Number(o.flags[name]));
  const seconds = o.flags.duration === undefined ? 60 : o.duration;
  const warmup = num('warmup', 30);
  const probeSeconds = num('probe', 5);
  const load = num('load', 0.5);
  const log = (s: string): void => void process.stdout.write(`${s}\n`);

  const redis = new TestRedis();
  const cfg = new TempConfigDir();
  for (const f of ['metrics.yaml', 'graph.yaml']) cfg.write(f, readFileSync(path.join(REPO, 'rules', f), 'utf8'));
  cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
  cfg.write('quota.yaml', QUOTA);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let bare: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await redis.start();
    const port = await freePort();
    server = await startServer({
      name: 'mixer',
      args: [path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port)],
      env: { REDIS_URL: redis.url, MIXER_CONFIG_DIR: cfg.dir, MIXER_LOG_LEVEL: 'warn', MIXER_KEY_PREFIX: 'soak:' },
      port,
      ready: async (url) => (await fetch(`${url}/healthz`)).ok,
    });
    const basePort = await freePort();
    bare = await startServer({
      name: 'bare',
      args: [path.join(__dirname, 'bare-server.js'), '--host', '127.0.0.1', '--port', String(basePort)],
      port: basePort,
      ready: async (url) => (await fetch(url, { method: 'POST', body: '{}' })).ok,
    });
    const b = bodies();
    log(
      `soak: mixer serve (pid ${server.pid}) with Redis ${redis.url}; mix ${100 - REPORT_SHARE * 100}% checks, ${REPORT_SHARE * 100}% reports of ${BATCH} bags`,
    );
    await probe(port, b, 2, 32); // warm-up, not measured
    const cap = await probe(port, b, probeSeconds, 32);
    // `--rate <req/s>` fixes the rate instead (to compare runs on a machine whose capacity moves).
    const rate = o.flags.rate !== undefined ? Number(o.flags.rate) : Math.max(1, Math.round(cap.rate * load));
    const baseRate = Math.max(20, Math.round(rate / 10));
    log(
      `capacity probe: ${cap.rate.toFixed(0)} req/s end to end (closed loop, 32 connections, ${probeSeconds} s + ${cap.drainS.toFixed(1)} s for the report queue to catch up, ${cap.errors} errors); soak at ${rate} req/s (${o.flags.rate !== undefined ? '--rate' : `${load} × the probe`}) for ${warmup} s of warm-up + ${seconds} s measured, baseline (bare Node server) at ${baseRate} req/s meanwhile`,
    );

    const before = await counted(port);
    const r = await soak(port, server.pid, b, rate, warmup + seconds, basePort, baseRate);
    const reported = r.outcomes.filter((x) => x.kind === 'report' && x.ok).length * BATCH;
    const catchUpS = await drain(port, before + reported);
    await new Promise((res) => setTimeout(res, 1000)); // anything counted twice would show by now
    const total = (await counted(port)) - before;
    const mixerOutcomes = r.outcomes.filter((x) => x.kind !== 'baseline');
    const errors = r.outcomes.filter((x) => !x.ok).length + r.shed;
    const failures: Record<string, number> = {};
    for (const x of r.outcomes) if (!x.ok) failures[`${x.kind} ${x.status || 'transport'}`] = (failures[`${x.kind} ${x.status || 'transport'}`] ?? 0) + 1;
    const windows: Array<{ from: number; n: number; p50: number; p99: number; baseP99: number; rss: number; rssMin: number }> = [];
    const sortedMs = (xs: Outcome[], from: number) =>
      xs
        .filter((x) => x.ok && x.at >= from && x.at < from + WINDOW_S)
        .map((x) => x.ms)
        .sort((a, c) => a - c);
    for (let from = 0; from < warmup + seconds; from += WINDOW_S) {
      const lat = sortedMs(mixerOutcomes, from);
      const base = sortedMs(
        r.outcomes.filter((x) => x.kind === 'baseline'),
        from,
      );
      const rssIn = r.rss.filter(([t]) => t >= from && t < from + WINDOW_S).map(([, m]) => m);
      windows.push({
        from,
        n: lat.length,
        p50: quantile(lat, 0.5),
        p99: quantile(lat, 0.99),
        baseP99: quantile(base, 0.99),
        rss: rssIn.length ? Math.max(...rssIn) : Number.NaN,
        rssMin: rssIn.length ? Math.min(...rssIn) : Number.NaN,
      });
    }
    log('\n| window (s) | answers | p50 ms | p99 ms | baseline p99 ms | p99 / baseline | RSS MB (min–max) |\n|---|---|---|---|---|---|---|');
    for (const w of windows)
      log(
        `| ${w.from}–${w.from + WINDOW_S} | ${w.n} | ${w.p50.toFixed(2)} | ${w.p99.toFixed(2)} | ${w.baseP99.toFixed(2)} | ${(w.p99 / w.baseP99).toFixed(1)} | ${w.rssMin.toFixed(1)}–${w.rss.toFixed(1)} |`,
      );
    const after = r.rss.filter(([t]) => t >= warmup);
    const mbPerMin = slope(after) * 60;
    // The floor of each measured window (RSS just after a GC): its slope is memory kept, where the slope of
    // every sample also follows the GC sawtooth (several MB) and swings by MB/min from run to run.
    const floors: Array<[number, number]> = windows.filter((w) => w.from >= warmup).map((w) => [w.from + WINDOW_S / 2, w.rssMin]);
    const floorMbPerMin = slope(floors) * 60;
    const measured = windows.filter((w) => w.from >= warmup && w.n > 0);
    const first = measured[0];
    const last = measured[measured.length - 1];
    const p99Ratio = measured.length >= 2 ? last.p99 / first.p99 : Number.NaN;
    // The machine's own noise cancels out of p99 / baseline p99; its change from first to last window is the drift.
    const p99Drift = measured.length >= 2 ? last.p99 / last.baseP99 / (first.p99 / first.baseP99) : Number.NaN;
    const rssFirst = after.length ? after[0][1] : Number.NaN;
    const rssLast = after.length ? after[after.length - 1][1] : Number.NaN;
    log(
      `\nRSS after ${warmup} s warm-up: ${rssFirst.toFixed(1)} → ${rssLast.toFixed(1)} MB (ratio ${(rssLast / rssFirst).toFixed(3)}), slope ${mbPerMin.toFixed(2)} MB/min over every 1 s sample, ${floorMbPerMin.toFixed(2)} MB/min over the floor of each 10 s window`,
    );
    log(`p99, last window / first after warm-up: ${p99Ratio.toFixed(2)} raw, ${p99Drift.toFixed(2)} relative to the baseline's p99`);
    log(`report queue caught up ${catchUpS.toFixed(1)} s after the load stopped (${reported} bags answered 202, ${total} counted)`);
    log(`answers ${mixerOutcomes.length}, errors ${errors} (by kind and status: ${JSON.stringify(failures)}, shed by the generator ${r.shed})`);
    const verdict = errors === 0 && floorMbPerMin < 1 && p99Drift < 2 && total === reported;
    log(
      `verdict: ${verdict ? 'held' : 'DID NOT HOLD'} (errors 0, RSS floor slope < 1 MB/min, p99 drift relative to the baseline < 2, every 202'd bag counted once)`,
    );
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          capacity: cap.rate,
          probeDrainS: cap.drainS,
          catchUpS,
          reported,
          total,
          rate,
          baseRate,
          seconds,
          warmup,
          windows,
          rss: r.rss,
          mbPerMin,
          p99Ratio,
          p99Drift,
          errors,
          verdict,
        },
        null,
        2,
      ),
    );
    log(`results: ${path.relative(process.cwd(), file)}`);
    if (!verdict) process.exitCode = 1;
  } finally {
    await bare?.stop();
    await server?.stop();
    await redis.cleanup();
    cfg.cleanup();
  }
}
