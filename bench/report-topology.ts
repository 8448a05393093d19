/**
 * `npm run bench -- report --cluster` (or `--sentinel`): the report bench's end-to-end figure on a
 * Redis Cluster of 3 primaries + 3 replicas (or a primary + replica behind 3 Sentinels), started here
 * with the test topology helper, beside the same run's figure on one redis-server: the ratio is the
 * cost of the topology on one box (target ≥ 0.8×). The two runs alternate (`--rounds`, default 3,
 * single first) and the medians are compared. For the cluster it prints each node's Redis CPU
 * (`INFO cpu` used_cpu_sys + used_cpu_user over the run), and the spread of keys (`DBSIZE`) and of
 * commands (`INFO commandstats` calls) over the primaries: no shard should hold more than 50%.
 */
import * as path from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, startServer } from './load';
import type { BenchOptions } from './options';
import { ingestAndDrain, makeBatches, startRedis, startSink } from './report';
import { ask, infoFields, startRedisCluster, startRedisSentinel } from '../test/support/redis-topology';
import type { RedisCluster } from '../test/support/redis-topology';

const REPO = path.resolve(__dirname, '..', '..');
const BATCH = 100;
const PROFILE_DIR = path.join(REPO, 'bench', 'results', 'profiles-report-topology');

interface E2E {
  accepted: number;
  refused: number;
  counted: number;
  ingestBagsPerSec: number;
  endToEndBagsPerSec: number;
  /** Mixer's CPU seconds (user + system) per 1,000 bags, from start of load to the last bag counted. */
  mixerCpuPer1000: number;
  /** Mixer's CPU seconds over the run, as a share of the run's wall time (1 = one core). */
  mixerCores: number;
  /** Share of Mixer's CPU time spent in the kernel (system time). */
  mixerSysShare: number;
}

/** User and system CPU seconds of a process so far (/proc; NaN once it is gone). */
function cpuSplitOf(pid: number): { user: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
  } catch {
    return { user: Number.NaN, sys: Number.NaN };
  }
}

/** Ingest for `duration` s from `clients` senders into one `mixer serve` on `redisEnv`, then waits until /metrics counts every accepted bag. */
export async function endToEnd(
  o: BenchOptions,
  redisEnv: NodeJS.ProcessEnv,
  clients: number,
  batches: string[],
  sinkUrl: string,
  profileName?: string,
): Promise<E2E> {
  const port = await freePort();
  const profileArgs = profileName ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${profileName}.cpuprofile`] : [];
  const mixer = await startServer({
    name: 'mixer',
    args: [...profileArgs, path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port)],
    env: {
      ...redisEnv,
      ZIPKIN_URL: sinkUrl,
      MIXER_CONFIG_DIR: path.join(REPO, 'rules'),
      MIXER_LOG_LEVEL: 'warn',
      MIXER_KEY_PREFIX: `bench:${Date.now()}:`,
      MIXER_GRPC_PORT: '0',
    },
    port,
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
  });
  try {
    const cpu0 = cpuSplitOf(mixer.pid);
    const { accepted, refused, counted, tIngest, tEnd } = await ingestAndDrain(mixer.url, batches, clients, o.duration);
    const cpu1 = cpuSplitOf(mixer.pid);
    const cpu = cpu1.user + cpu1.sys - cpu0.user - cpu0.sys;
    return {
      accepted,
      refused,
      counted,
      ingestBagsPerSec: accepted / tIngest,
      endToEndBagsPerSec: accepted / tEnd,
      mixerCpuPer1000: (1000 * cpu) / Math.max(1, accepted),
      mixerCores: cpu / tEnd,
      mixerSysShare: (cpu1.sys - cpu0.sys) / Math.max(0.01, cpu),
    };
  } finally {
    await mixer.stop();
  }
}

interface NodeStats {
  cpu: number;
  keys: number;
  calls: number;
  /** Calls per command (`INFO commandstats`; commands run inside scripts count too). */
  byCommand: Map<string, number>;
}

/** CPU seconds, keys and command calls of a node now. */
async function nodeStats(port: number): Promise<NodeStats> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await r.connect();
  try {
    const cpu = infoFields(await r.info('cpu'));
    let calls = 0;
    const byCommand = new Map<string, number>();
    for (const line of (await r.info('commandstats')).split('\n')) {
      const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (m) {
        calls += Number(m[2]);
        byCommand.set(m[1], Number(m[2]));
      }
    }
    return { cpu: Number(cpu.used_cpu_sys) + Number(cpu.used_cpu_user), keys: await r.dbsize(), calls, byCommand };
  } finally {
    r.disconnect();
  }
}

/** Calls per batch of each command, summed over `nodes`. */
function perBatchOf(nodes: Array<Map<string, number>>, batches: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of nodes) for (const [cmd, calls] of n) out.set(cmd, (out.get(cmd) ?? 0) + calls / Math.max(1, batches));
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (part: number, whole: number): string => `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;

export async function runReportTopologyBench(o: BenchOptions): Promise<void> {
  const kind: 'cluster' | 'sentinel' = o.flags.sentinel ? 'sentinel' : 'cluster';
  const clients = Number(o.flags.clients ?? 4);
  const rounds = Number(o.flags.rounds ?? 3);
  const batches = makeBatches(50);
  // --profile: a CPU profile of each mixer serve, named by target and round.
  const prof = (target: string, round: number): string | undefined =>
    o.flags.profile ? `${target}-${new Date().toISOString().replace(/[:.]/g, '-')}-r${round}` : undefined;
  const sink = await startSink();
  const single: E2E[] = [];
  const topo: E2E[] = [];
  // Commands per accepted batch (last round): on the one server, and summed over the cluster's primaries.
  let singleRedisCpu = Number.NaN;
  const perBatch: { single?: Map<string, number>; topology?: Map<string, number> } = {};
  const spread: Array<{ node: string; role: string; cpu: number; keys: number; calls: number }> = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const redis = await startRedis();
      try {
        const run = await endToEnd(
          o,
          { REDIS_URL: redis.url, MIXER_REDIS_CLUSTER: '', MIXER_REDIS_SENTINELS: '' },
          clients,
          batches,
          sink.url,
          prof('single', round),
        );
        single.push(run);
        if (round === rounds - 1) {
          const stats = await nodeStats(Number(new URL(redis.url).port));
          perBatch.single = perBatchOf([stats.byCommand], run.accepted / BATCH);
          singleRedisCpu = stats.cpu;
        }
      } finally {
        redis.stop();
      }
      if (kind === 'cluster') {
        const cluster: RedisCluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1 });
        try {
          // Counters from this round's run only: reset them on every node first.
          for (const n of cluster.nodes) await ask(n.port, 'CONFIG', 'RESETSTAT');
          const before = await Promise.all(cluster.nodes.map((n) => nodeStats(n.port)));
          const run = await endToEnd(o, cluster.env, clients, batches, sink.url, prof('cluster', round));
          topo.push(run);
          const after = await Promise.all(cluster.nodes.map((n) => nodeStats(n.port)));
          if (round === rounds - 1) {
            await cluster.primaries();
            perBatch.topology = perBatchOf(
              after.filter((_, i) => cluster.nodes[i].role === 'primary').map((a) => a.byCommand),
              run.accepted / BATCH,
            );
            cluster.nodes.forEach((n, i) =>
              spread.push({ node: n.address, role: n.role, cpu: after[i].cpu - before[i].cpu, keys: after[i].keys, calls: after[i].calls - before[i].calls }),
            );
          }
        } finally {
          await cluster.stop();
        }
      } else {
        const set = await startRedisSentinel({ replicas: 1, sentinels: 3 });
        try {
          topo.push(await endToEnd(o, set.env, clients, batches, sink.url, prof('sentinel', round)));
        } finally {
          await set.stop();
        }
      }
    }
  } finally {
    sink.close();
  }
  const singleE2E = median(single.map((r) => r.endToEndBagsPerSec));
  const topoE2E = median(topo.map((r) => r.endToEndBagsPerSec));
  const ratio = topoE2E / singleE2E;
  const lines = [
    `report bench on ${kind === 'cluster' ? 'a Redis Cluster (3 primaries + 3 replicas)' : 'Sentinel (a primary + 1 replica, 3 Sentinels)'}: ${o.duration}s of ingest per run, ${clients} clients, ${rounds} round(s), one mixer serve`,
    `  one redis-server   end to end ${single.map((r) => f(r.endToEndBagsPerSec)).join(', ')} bags/s (median ${f(singleE2E)}); ingest ${single.map((r) => f(r.ingestBagsPerSec)).join(', ')}`,
    `  ${kind.padEnd(17)}  end to end ${topo.map((r) => f(r.endToEndBagsPerSec)).join(', ')} bags/s (median ${f(topoE2E)}); ingest ${topo.map((r) => f(r.ingestBagsPerSec)).join(', ')}`,
    `  ratio ${kind} / one server   ${ratio.toFixed(3)}x   (target ≥ 0.8x)`,
    `  Mixer CPU-s per 1,000 bags: one server ${single.map((r) => r.mixerCpuPer1000.toFixed(3)).join(', ')}; ${kind} ${topo.map((r) => r.mixerCpuPer1000.toFixed(3)).join(', ')}` +
      `   (ratio of medians ${(median(single.map((r) => r.mixerCpuPer1000)) / median(topo.map((r) => r.mixerCpuPer1000))).toFixed(3)}x; Mixer busy ${[...single, ...topo].map((r) => r.mixerCores.toFixed(2)).join('/')} cores)`,
  ];
  let worstKeys = 0;
  let worstCalls = 0;
  if (spread.length > 0) {
    const primaries = spread.filter((s) => s.role === 'primary');
    const keys = primaries.reduce((n, s) => n + s.keys, 0);
    const calls = primaries.reduce((n, s) => n + s.calls, 0);
    worstKeys = Math.max(...primaries.map((s) => s.keys / Math.max(1, keys)));
    worstCalls = Math.max(...primaries.map((s) => s.calls / Math.max(1, calls)));
    lines.push(
      `  Redis CPU-s over the last round's run: one server ${singleRedisCpu.toFixed(2)} s; cluster ${spread.reduce((n, x) => n + x.cpu, 0).toFixed(2)} s over its ${spread.length} nodes`,
    );
    lines.push(`  per node (last round): Redis CPU-s over the run, keys (DBSIZE at the end), commands (INFO commandstats calls)`);
    for (const s of spread)
      lines.push(
        `    ${s.node.padEnd(16)} ${s.role.padEnd(8)} cpu ${s.cpu.toFixed(2).padStart(6)} s   keys ${f(s.keys).padStart(7)}${s.role === 'primary' ? ` (${pct(s.keys, keys)})` : ''}   calls ${f(s.calls).padStart(9)}${s.role === 'primary' ? ` (${pct(s.calls, calls)})` : ''}`,
      );
    lines.push(
      `  largest primary share: keys ${(100 * worstKeys).toFixed(1)}%, commands ${(100 * worstCalls).toFixed(1)}%   (target ≤ 50% each)${worstKeys > 0.5 || worstCalls > 0.5 ? '   OVER TARGET' : ''}`,
    );
  }
  if (perBatch.single && perBatch.topology) {
    const one = perBatch.single;
    const many = perBatch.topology;
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    lines.push(
      `  Redis commands per batch of ${BATCH} bags (last round; the cluster's summed over its primaries; scripts' inner calls included): one server ${total(one).toFixed(0)}, cluster ${total(many).toFixed(0)}`,
    );
    const names = [...new Set([...one.keys(), ...many.keys()])].sort(
      (a, b) => Math.max(many.get(b) ?? 0, one.get(b) ?? 0) - Math.max(many.get(a) ?? 0, one.get(a) ?? 0),
    );
    for (const name of names.slice(0, 14))
      lines.push(`    ${name.padEnd(24)} ${(one.get(name) ?? 0).toFixed(1).padStart(7)}  ${(many.get(name) ?? 0).toFixed(1).padStart(7)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  const result = {
    bench: `report-${kind}`,
    timestamp: new Date().toISOString(),
    options: { duration: o.duration, clients, rounds, batch: BATCH },
    single,
    topology: topo,
    ratio,
    spread,
    largestPrimaryShare: { keys: worstKeys, commands: worstCalls },
    commandsPerBatch: { single: Object.fromEntries(perBatch.single ?? []), topology: Object.fromEntries(perBatch.topology ?? []) },
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', `report-${kind}-${result.timestamp.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
}
