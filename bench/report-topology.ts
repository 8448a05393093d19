/**
 * `npm run bench -- report --cluster` (or `--sentinel`): the report bench's end-to-end figure on a
 * Redis Cluster of 3 primaries + 3 replicas (or a primary + replica behind 3 Sentinels), started here
 * with the test topology helper, beside the same run's figure on one redis-server: the ratio is the
 * cost of the topology on one box (target ≥ 0.8×). The two runs alternate (`--rounds`, default 2,
 * single first) and the medians are compared. For the cluster it prints each node's Redis CPU
 * (`INFO cpu` used_cpu_sys + used_cpu_user over the run), and the spread of keys (`DBSIZE`) and of
 * commands (`INFO commandstats` calls) over the primaries: no shard should hold more than 50%.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, startServer } from './load';
import type { BenchOptions } from './options';
import { countedBags, makeBatches, startRedis, startSink } from './report';
import { ask, infoFields, startRedisCluster, startRedisSentinel } from '../test/support/redis-topology';
import type { RedisCluster } from '../test/support/redis-topology';

const REPO = path.resolve(__dirname, '..', '..');
const BATCH = 100;

interface E2E {
  accepted: number;
  refused: number;
  counted: number;
  ingestBagsPerSec: number;
  endToEndBagsPerSec: number;
}

/** Ingest for `duration` s from `clients` senders into one `mixer serve` on `redisEnv`, then waits until /metrics counts every accepted bag. */
async function endToEnd(o: BenchOptions, redisEnv: NodeJS.ProcessEnv, clients: number, batches: string[], sinkUrl: string): Promise<E2E> {
  const port = await freePort();
  const mixer = await startServer({
    name: 'mixer',
    args: [path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port)],
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
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  try {
    const post = (body: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request(
          `${mixer.url}/v1/report`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const t0 = performance.now();
    const until = t0 + o.duration * 1000;
    let accepted = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = c; performance.now() < until; i += clients) {
          if ((await post(batches[i % batches.length])) === 202) accepted += BATCH;
          else refused += BATCH;
        }
      }),
    );
    const tIngest = (performance.now() - t0) / 1000;
    let counted = 0;
    const drainDeadline = performance.now() + 300_000;
    while ((counted = await countedBags(mixer.url)) < accepted && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 100));
    const tEnd = (performance.now() - t0) / 1000;
    return { accepted, refused, counted, ingestBagsPerSec: accepted / tIngest, endToEndBagsPerSec: accepted / tEnd };
  } finally {
    agent.destroy();
    await mixer.stop();
  }
}

interface NodeStats {
  cpu: number;
  keys: number;
  calls: number;
}

/** CPU seconds, keys and command calls of a node now. */
async function nodeStats(port: number): Promise<NodeStats> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await r.connect();
  try {
    const cpu = infoFields(await r.info('cpu'));
    let calls = 0;
    for (const line of (await r.info('commandstats')).split('\n')) {
      const m = /^cmdstat_[^:]+:calls=(\d+)/.exec(line);
      if (m) calls += Number(m[1]);
    }
    return { cpu: Number(cpu.used_cpu_sys) + Number(cpu.used_cpu_user), keys: await r.dbsize(), calls };
  } finally {
    r.disconnect();
  }
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
  const rounds = Number(o.flags.rounds ?? 2);
  const batches = makeBatches(50);
  const sink = await startSink();
  const single: E2E[] = [];
  const topo: E2E[] = [];
  const spread: Array<{ node: string; role: string; cpu: number; keys: number; calls: number }> = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const redis = await startRedis();
      try {
        single.push(await endToEnd(o, { REDIS_URL: redis.url, MIXER_REDIS_CLUSTER: '', MIXER_REDIS_SENTINELS: '' }, clients, batches, sink.url));
      } finally {
        redis.stop();
      }
      if (kind === 'cluster') {
        const cluster: RedisCluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1 });
        try {
          // Counters from this round's run only: reset them on every node first.
          for (const n of cluster.nodes) await ask(n.port, 'CONFIG', 'RESETSTAT');
          const before = await Promise.all(cluster.nodes.map((n) => nodeStats(n.port)));
          topo.push(await endToEnd(o, cluster.env, clients, batches, sink.url));
          const after = await Promise.all(cluster.nodes.map((n) => nodeStats(n.port)));
          if (round === rounds - 1) {
            await cluster.primaries();
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
          topo.push(await endToEnd(o, set.env, clients, batches, sink.url));
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
  ];
  let worstKeys = 0;
  let worstCalls = 0;
  if (spread.length > 0) {
    const primaries = spread.filter((s) => s.role === 'primary');
    const keys = primaries.reduce((n, s) => n + s.keys, 0);
    const calls = primaries.reduce((n, s) => n + s.calls, 0);
    worstKeys = Math.max(...primaries.map((s) => s.keys / Math.max(1, keys)));
    worstCalls = Math.max(...primaries.map((s) => s.calls / Math.max(1, calls)));
    lines.push(`  per node (last round): Redis CPU-s over the run, keys (DBSIZE at the end), commands (INFO commandstats calls)`);
    for (const s of spread)
      lines.push(
        `    ${s.node.padEnd(16)} ${s.role.padEnd(8)} cpu ${s.cpu.toFixed(2).padStart(6)} s   keys ${f(s.keys).padStart(7)}${s.role === 'primary' ? ` (${pct(s.keys, keys)})` : ''}   calls ${f(s.calls).padStart(9)}${s.role === 'primary' ? ` (${pct(s.calls, calls)})` : ''}`,
      );
    lines.push(
      `  largest primary share: keys ${(100 * worstKeys).toFixed(1)}%, commands ${(100 * worstCalls).toFixed(1)}%   (target ≤ 50% each)${worstKeys > 0.5 || worstCalls > 0.5 ? '   OVER TARGET' : ''}`,
    );
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
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', `report-${kind}-${result.timestamp.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
}
