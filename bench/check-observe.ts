/**
 * The observe part of `npm run bench -- check`: what the live tap and decision logs cost a check.
 * Four runs of `mixer serve` on the same config and bodies, each alone, each with the same env
 * (a private Redis, an admin token) so that only the observer differs:
 *
 * - `no tap`: the baseline of this part; the other figures are ratios to it.
 * - `idle tap`: one tap open whose filter matches nothing (`destination=<no such service>`).
 * - `full tap`: one tap matching every check, read by this process (100 events/s, the rest dropped).
 * - `decisionlog`: no tap; a `decisionlog` handler at `sample: 1.0` writing every decision to a capped
 *   Redis stream.
 *
 * Targets (issue 15): idle ≥ 0.98×, full ≥ 0.7×, decision log ≥ 0.7× of the no-tap req/s.
 */
import { cpSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import type { BodySet } from './check-fixtures';
import { freePort, loadServer, startServer } from './load';
import type { LoadResult } from './load';
import { startRedis } from './report';

export const OBSERVE_VARIANTS = ['no tap', 'idle tap', 'full tap', 'decisionlog'] as const;
export type ObserveVariant = (typeof OBSERVE_VARIANTS)[number];
export const OBSERVE_TARGETS: Readonly<Record<Exclude<ObserveVariant, 'no tap'>, number>> = { 'idle tap': 0.98, 'full tap': 0.7, decisionlog: 0.7 };

const TOKEN = 'bench-observe-token';

export interface ObserveRun extends LoadResult {
  variant: ObserveVariant;
  /** Tap variants: events received and drops reported while measured. */
  tapEvents?: number;
  tapDropped?: number;
  /** decisionlog: stream entries written (capped) and records counted by result. */
  decisions?: Record<string, number>;
}

export interface ObserveSetup {
  connections: number;
  duration: number;
  warmup: number;
  cpu: number | undefined;
  /** Write a CPU profile of each Mixer run here (`--profile`). */
  profileDir?: string;
  mixerBin: string;
}

/** Reads a tap in the background, counting events and reported drops. */
async function openTap(url: string, query: string): Promise<{ events: () => number; dropped: () => number; reset: () => void; close: () => void }> {
  const abort = new AbortController();
  const r = await fetch(`${url}/v1/tap${query}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
  if (r.status !== 200 || !r.body) throw new Error(`tap: HTTP ${r.status} ${await r.text()}`);
  let events = 0;
  let dropped = 0;
  let opened = false;
  const reader = r.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  void (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith('event: open')) opened = true;
          else if (block.startsWith('event: dropped')) dropped += (JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { dropped: number }).dropped;
          else if (block.startsWith('event: check') || block.startsWith('event: report')) events++;
        }
      }
    } catch {
      /* closed */
    }
  })();
  for (let i = 0; i < 100 && !opened; i++) await new Promise((res) => setTimeout(res, 20));
  return {
    events: () => events,
    dropped: () => dropped,
    reset: () => {
      events = 0;
      dropped = 0;
    },
    close: () => abort.abort(),
  };
}

const DECISIONLOG_HANDLER = `apiVersion: mixer/v1
kind: Handler
metadata: {name: bench-decisions, namespace: default}
spec:
  adapter: decisionlog
  params: {sink: redis, sample: 1.0, maxLen: 1000}
`;

async function measureVariant(s: ObserveSetup, variant: ObserveVariant, dir: string, bodies: BodySet, redisUrl: string, round: number): Promise<ObserveRun> {
  const port = await freePort();
  const prefix = `bench-observe:${variant.replace(/\W/g, '-')}:`;
  let configDir = dir;
  if (variant === 'decisionlog') {
    configDir = `${dir}-decisionlog`;
    cpSync(dir, configDir, { recursive: true });
    writeFileSync(path.join(configDir, 'bench-decisions.yaml'), DECISIONLOG_HANDLER);
  }
  const mixer = await startServer({
    name: `mixer (${variant})`,
    args: [
      ...(s.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${s.profileDir}`, `--cpu-prof-name=observe-${variant.replace(/\W/g, '-')}-${round}.cpuprofile`] : []),
      s.mixerBin,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    env: { MIXER_CONFIG_DIR: configDir, REDIS_URL: redisUrl, MIXER_KEY_PREFIX: prefix, MIXER_ADMIN_TOKEN: TOKEN, MIXER_LOG_LEVEL: 'warn' },
    port,
    cpu: s.cpu,
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
  });
  const tap =
    variant === 'idle tap' ? await openTap(mixer.url, '?destination=no-such-service') : variant === 'full tap' ? await openTap(mixer.url, '') : undefined;
  try {
    const run = await loadServer(mixer, {
      connections: s.connections,
      duration: s.duration,
      warmup: s.warmup,
      path: '/v1/check',
      bodies: bodies.bodies,
      beforeMeasure: () => Promise.resolve(tap?.reset()),
    });
    if (run.non2xx > 0 || run.errors > 0 || run.timeouts > 0 || run.total === 0) {
      throw new Error(`${variant}: ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts of ${run.total}; the figures are worthless`);
    }
    const out: ObserveRun = { ...run, variant };
    if (tap) {
      await new Promise((res) => setTimeout(res, 1100)); // the last second's drop report
      out.tapEvents = tap.events();
      out.tapDropped = tap.dropped();
    }
    if (variant === 'decisionlog') {
      const text = await (await fetch(`${mixer.url}/metrics`)).text();
      out.decisions = {};
      for (const m of text.matchAll(/^mixer_decisionlog_records_total\{[^}]*result="(\w+)"[^}]*\} (\S+)$/gm)) out.decisions[m[1]] = Number(m[2]);
      const redis = new Redis(redisUrl);
      out.decisions.streamEntries = await redis.xlen(`${prefix}h:default/bench-decisions:decisions`);
      redis.disconnect();
    }
    return out;
  } catch (err) {
    process.stderr.write(mixer.output());
    throw err;
  } finally {
    tap?.close();
    await mixer.stop();
  }
}

/** Runs the four variants `rounds` times on one config (interleaved, so drift hits each alike). */
export async function runObserveVariants(s: ObserveSetup, dir: string, bodies: BodySet, rounds: number, log: (line: string) => void): Promise<ObserveRun[][]> {
  const redis = await startRedis();
  const runs: ObserveRun[][] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const these: ObserveRun[] = [];
      // Every other round in reverse: a drift of the machine's speed over the run touches every variant alike.
      const order = round % 2 === 1 ? OBSERVE_VARIANTS : [...OBSERVE_VARIANTS].reverse();
      for (const v of order) {
        const r = await measureVariant(s, v, dir, bodies, redis.url, round);
        const extra =
          r.tapEvents !== undefined
            ? `  tap: ${r.tapEvents} events, ${r.tapDropped} dropped`
            : r.decisions
              ? `  decisions: ${Object.entries(r.decisions)
                  .map(([k, n]) => `${k} ${n}`)
                  .join(', ')}`
              : '';
        log(
          `  ${`mixer, ${v}`.padEnd(22)} ${Math.round(r.reqPerSec).toLocaleString('en-US').padStart(8)} req/s  p99 ${r.p99.toFixed(2)} ms  ${r.serverUsPerReq.toFixed(1)} µs/req${extra}`,
        );
        these.push(r);
      }
      runs.push(these);
      const base = these.find((r) => r.variant === 'no tap')!;
      log(
        `  round ${round}, vs its own no tap: ${these
          .filter((r) => r !== base)
          .map((r) => `${r.variant} ${(r.reqPerSec / base.reqPerSec).toFixed(3)}`)
          .join(', ')}`,
      );
    }
  } finally {
    redis.stop();
  }
  return runs;
}

/**
 * The ratio table: each variant's req/s over the no-tap run's, and the same for server CPU per request
 * (no tap's µs/req over the variant's: what the observer costs a check, steadier on a shared machine).
 */
export function observeTable(runs: readonly ObserveRun[]): string {
  const base = runs.find((r) => r.variant === 'no tap')!;
  const lines = [
    '',
    'observers (same config, same bodies, Redis and admin token in every run):',
    'variant         req/s   p99 ms  µs/req   vs no tap   cpu vs no tap   target (req/s ratio)',
  ];
  for (const r of runs) {
    const ratio = r.reqPerSec / base.reqPerSec;
    const target = r.variant === 'no tap' ? undefined : OBSERVE_TARGETS[r.variant];
    const verdict = target === undefined ? '' : `>= ${target}  ${ratio >= target ? 'met' : 'MISSED'}`;
    lines.push(
      `${r.variant.padEnd(12)} ${Math.round(r.reqPerSec).toLocaleString('en-US').padStart(8)}  ${r.p99.toFixed(2).padStart(7)}  ${r.serverUsPerReq.toFixed(1).padStart(6)}   ${ratio.toFixed(3).padStart(9)}   ${(base.serverUsPerReq / r.serverUsPerReq).toFixed(3).padStart(13)}   ${verdict}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
