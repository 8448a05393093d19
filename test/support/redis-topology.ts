/**
 * Real Redis topologies for tests and benches: a Redis Cluster (primaries with replicas, created by
 * `redis-cli --cluster create`) and a primary with replicas watched by three Sentinels
 * (`redis-server --sentinel`), each on free ports under a temp dir, every process spawned by us and
 * stopped by its pid. {@link forEachRedisMode} runs the same test bodies against one server, the
 * cluster and Sentinel.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { connectRedis, isCluster, redisSpecFromEnv } from '../../src/base/redis-connect';
import type { ConnectionRole, RedisConnection } from '../../src/base/redis-connect';
import { freePort } from './processes';
import { waitFor } from './wait';

const run = promisify(execFile);

/** Every process we spawned and have not seen exit: killed if the test process exits before `stop()`. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Sends one command to 127.0.0.1:`port` on a fresh connection (no retries); throws if it cannot. */
export async function ask(port: number, ...args: string[]): Promise<unknown> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(args[0], ...args.slice(1));
  } finally {
    c.disconnect();
  }
}

/** `key:value` lines of an INFO-like answer (`cluster info`, `info replication`). */
export function infoFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** One redis-server process (a data node or a Sentinel) on a fixed port, restartable with the same files. */
export class RedisProcess {
  private child: ChildProcess | undefined;
  private out = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
  ) {
    mkdirSync(dir, { recursive: true });
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get alive(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** The last lines the server printed (for failure messages). */
  output(): string {
    return this.out.split('\n').slice(-20).join('\n');
  }

  /** Starts the server and waits until it answers PING. */
  async start(): Promise<void> {
    if (this.alive) return;
    this.out = '';
    const child = spawn('redis-server', this.args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    const keep = (d: Buffer): void => {
      this.out = (this.out + d.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    await waitFor(
      `redis-server on port ${this.port} to answer PING`,
      async () => {
        if (!this.alive) throw new Error(`redis-server on port ${this.port} exited:\n${this.output()}`);
        try {
          return (await ask(this.port, 'PING')) === 'PONG';
        } catch {
          return false;
        }
      },
      10_000,
      50,
    );
  }

  /** Sends `signal` to the pid and waits for the process to exit (SIGKILL after 5 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

export interface ClusterNode {
  /** `127.0.0.1:port`. */
  address: string;
  port: number;
  /** The node's cluster id (40 hex digits). */
  id: string;
  /** Role as last read from the cluster (it changes on failover). */
  role: 'primary' | 'replica';
  process: RedisProcess;
  get pid(): number;
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  primaryId: string;
  connected: boolean;
  slots: Array<[number, number]>;
}

function parseClusterNodes(text: string): NodeLine[] {
  const out: NodeLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const port = Number(/:(\d+)/.exec(f[1])?.[1]);
    const slots: Array<[number, number]> = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [a, b] = s.split('-').map(Number);
      slots.push([a, b ?? a]);
    }
    out.push({ id: f[0], port, flags: f[2].split(','), primaryId: f[3], connected: f[7] === 'connected', slots });
  }
  return out;
}

export interface RedisClusterOptions {
  primaries?: number;
  replicasPerPrimary?: number;
}

export interface RedisCluster {
  /** `127.0.0.1:port` of every node (all of them serve as seeds). */
  seeds: string[];
  nodes: ClusterNode[];
  /** Environment that makes Mixer use this cluster (the other Redis modes cleared). */
  env: NodeJS.ProcessEnv;
  /** The live primaries as the cluster sees them now. */
  primaries(): Promise<ClusterNode[]>;
  /** The primary that holds `keyOrSlot` (a key, its hash tag honoured, or a slot number). */
  primaryHolding(keyOrSlot: string | number): Promise<ClusterNode>;
  /**
   * SIGKILLs the primary holding `keyOrSlot` and waits until one of its replicas is promoted and
   * every live node says cluster_state:ok. Returns the killed node and the one promoted.
   */
  killPrimaryHolding(keyOrSlot: string | number): Promise<{ killed: ClusterNode; promoted: ClusterNode }>;
  /** Starts a stopped node again (same port and nodes.conf) and waits until it is back in the cluster. */
  restart(node: ClusterNode): Promise<void>;
  /** Stops every node by pid and deletes the temp dir. */
  stop(): Promise<void>;
}

/** What every live node must agree on for the cluster to be usable. */
/**
 * Introduces to `n` (`CLUSTER MEET`, as `redis-cli --cluster create` does) the live nodes it does not
 * know. Gossip usually spreads them within a second or two, but on a loaded machine a node was seen
 * still missing one 30 s after the create.
 */
async function meetMissing(n: ClusterNode, live: ClusterNode[]): Promise<void> {
  const known = new Set(parseClusterNodes(String(await ask(n.port, 'CLUSTER', 'NODES'))).map((l) => l.port));
  for (const other of live) if (!known.has(other.port)) await ask(n.port, 'CLUSTER', 'MEET', '127.0.0.1', String(other.port));
}

async function clusterSettled(nodes: ClusterNode[], expectPrimaries: number): Promise<string | undefined> {
  const liveNodes = nodes.filter((n) => n.process.alive);
  let reference: string | undefined;
  for (const n of liveNodes) {
    const info = infoFields(String(await ask(n.port, 'CLUSTER', 'INFO')));
    if (info.cluster_state !== 'ok') return `${n.address} says cluster_state:${info.cluster_state}`;
    if (info.cluster_slots_ok !== '16384') return `${n.address} has ${info.cluster_slots_ok} slots ok`;
    if (Number(info.cluster_known_nodes) !== nodes.length) {
      await meetMissing(n, liveNodes);
      return `${n.address} knows ${info.cluster_known_nodes} of ${nodes.length} nodes`;
    }
    const lines = parseClusterNodes(String(await ask(n.port, 'CLUSTER', 'NODES')));
    const owners = lines
      .filter((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.length > 0)
      .map((l) => `${l.port}:${l.slots.map((s) => s.join('-')).join(',')}`)
      .sort()
      .join(' ');
    if (reference === undefined) reference = owners;
    else if (owners !== reference) return `${n.address} sees slot owners ${owners}, another node ${reference}`;
  }
  const owners = (reference ?? '').split(' ').filter(Boolean);
  if (owners.length !== expectPrimaries) return `${owners.length} primaries own slots, want ${expectPrimaries}`;
  for (const o of owners) {
    const port = Number(o.split(':')[0]);
    if (!liveNodes.some((n) => n.port === port)) return `slot owner ${port} is not running`;
    const role = (await ask(port, 'ROLE')) as unknown[];
    if (role[0] !== 'master') return `slot owner ${port} says role ${String(role[0])}`;
  }
  return undefined;
}

/** Re-reads every node's role and id from the cluster (through a live node). */
async function refreshRoles(nodes: ClusterNode[]): Promise<void> {
  const from = nodes.find((n) => n.process.alive);
  if (!from) return;
  const lines = parseClusterNodes(String(await ask(from.port, 'CLUSTER', 'NODES')));
  for (const n of nodes) {
    const l = lines.find((x) => x.port === n.port);
    if (!l) continue;
    n.id = l.id;
    n.role = l.flags.includes('master') ? 'primary' : 'replica';
  }
}

/** Each live primary has at least `want` replicas online. */
async function replicasOnline(nodes: ClusterNode[], want: number): Promise<string | undefined> {
  for (const n of nodes.filter((x) => x.process.alive && x.role === 'primary')) {
    const info = String(await ask(n.port, 'INFO', 'replication'));
    // A node the roles read as primary may be a replica in truth (a view read before it took its role).
    if (/^role:slave/m.test(info)) return `${n.address} is a replica (roles read again)`;
    const online = info.split('\n').filter((l) => /^slave\d+:.*state=online/.test(l)).length;
    if (online < want) return `primary ${n.address} has ${online} replica(s) online, want ${want}`;
  }
  return undefined;
}

/** Waits until `probe` returns undefined (no complaint); the last complaint is in the timeout error. */
async function settle(what: string, probe: () => Promise<string | undefined>, timeoutMs: number): Promise<void> {
  let last = '';
  await waitFor(
    what,
    async () => {
      try {
        const complaint = await probe();
        last = complaint ?? '';
        return complaint === undefined;
      } catch (err) {
        last = (err as Error).message;
        return false;
      }
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}

/** Starts `primaries` × (1 + `replicasPerPrimary`) cluster nodes and creates the cluster. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const primaries = options.primaries ?? 3;
  const perPrimary = options.replicasPerPrimary ?? 1;
  if (primaries < 3) throw new Error('redis-cli --cluster create needs at least 3 primaries');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-redis-cluster-'));
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < primaries * (1 + perPrimary); i++) {
      const port = await freePort();
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '1000',
        // A replica may always take over: the test kills primaries that were just busy.
        '--cluster-replica-validity-factor',
        '0',
        // A replica syncs at once (the default waits 5 s for more replicas to share one transfer).
        '--repl-diskless-sync-delay',
        '0',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        path.join(dir, String(port)),
      ];
      const process = new RedisProcess(port, path.join(dir, String(port)), args);
      nodes.push({
        address: `127.0.0.1:${port}`,
        port,
        id: '',
        role: 'primary',
        process,
        get pid() {
          return process.pid;
        },
      });
    }
    await Promise.all(nodes.map((n) => n.process.start()));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(perPrimary), '--cluster-yes'], {
      timeout: 30_000,
    }).catch((err: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    await settle('the new cluster to be ok on every node', () => clusterSettled(nodes, primaries), 30_000);
    await settle(
      'every primary to have its replicas online',
      async () => {
        await refreshRoles(nodes);
        return replicasOnline(nodes, perPrimary);
      },
      30_000,
    );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const seeds = nodes.map((n) => n.address);
  const cluster: RedisCluster = {
    seeds,
    nodes,
    env: { REDIS_URL: '', MIXER_REDIS_SENTINELS: '', MIXER_REDIS_CLUSTER: seeds.join(',') },
    async primaries() {
      await refreshRoles(nodes);
      return nodes.filter((n) => n.process.alive && n.role === 'primary');
    },
    async primaryHolding(keyOrSlot) {
      const slot = typeof keyOrSlot === 'number' ? keyOrSlot : calculateSlot(keyOrSlot);
      const from = nodes.find((n) => n.process.alive);
      if (!from) throw new Error('no cluster node is running');
      const lines = parseClusterNodes(String(await ask(from.port, 'CLUSTER', 'NODES')));
      const owner = lines.find((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.some(([a, b]) => slot >= a && slot <= b));
      const node = owner && nodes.find((n) => n.port === owner.port);
      if (!node) throw new Error(`no live primary holds slot ${slot}`);
      return node;
    },
    async killPrimaryHolding(keyOrSlot) {
      const killed = await cluster.primaryHolding(keyOrSlot);
      await killed.process.stop('SIGKILL');
      const slot = typeof keyOrSlot === 'number' ? keyOrSlot : calculateSlot(keyOrSlot);
      await settle(
        `a replica of ${killed.address} to be promoted and the cluster ok`,
        async () => {
          const owner = await cluster.primaryHolding(slot);
          if (owner === killed) return `slot ${slot} still on ${killed.address}`;
          return clusterSettled(nodes, primaries);
        },
        30_000,
      );
      await refreshRoles(nodes);
      return { killed, promoted: await cluster.primaryHolding(slot) };
    },
    async restart(node) {
      await node.process.start();
      await settle(
        `${node.address} back in the cluster`,
        async () => {
          for (const n of nodes.filter((x) => x.process.alive)) {
            const seen = parseClusterNodes(String(await ask(n.port, 'CLUSTER', 'NODES'))).find((l) => l.port === node.port);
            if (!seen || seen.flags.some((f) => f.startsWith('fail'))) return `${n.address} sees ${node.address} as ${seen?.flags.join(',') ?? 'unknown'}`;
          }
          const info = infoFields(String(await ask(node.port, 'INFO', 'replication')));
          if (info.role === 'slave' && info.master_link_status !== 'up') return `${node.address} replica link ${info.master_link_status}`;
          const complaint = await clusterSettled(nodes, primaries);
          if (complaint) return complaint;
          await refreshRoles(nodes);
          return undefined;
        },
        30_000,
      );
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.process.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface RedisSentinelOptions {
  replicas?: number;
  sentinels?: number;
  /** The monitored primary's name (default `mymaster`). */
  name?: string;
}

export interface SentinelDataNode {
  port: number;
  address: string;
  process: RedisProcess;
}

export interface RedisSentinelSet {
  name: string;
  /** The data nodes (the first one starts as the primary). */
  servers: SentinelDataNode[];
  sentinels: RedisProcess[];
  /** Environment that makes Mixer use these Sentinels (the other Redis modes cleared). */
  env: NodeJS.ProcessEnv;
  /** The primary the Sentinels announce now. */
  primary(): Promise<SentinelDataNode>;
  /** SIGKILLs the primary and waits until every Sentinel announces a new one and it says role master. */
  killPrimary(): Promise<{ killed: SentinelDataNode; promoted: SentinelDataNode }>;
  /** Starts a stopped data node again (Sentinel turns it into a replica of the current primary). */
  restart(node: SentinelDataNode): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a primary, `replicas` replicas (`--replicaof`) and `sentinels` Sentinels (quorum 2). */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const name = options.name ?? 'mymaster';
  const quorum = Math.floor(sentinelCount / 2) + 1;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-redis-sentinel-'));
  const servers: SentinelDataNode[] = [];
  const sentinels: RedisProcess[] = [];
  const all = (): RedisProcess[] => [...servers.map((s) => s.process), ...sentinels];
  try {
    let primaryPort = 0;
    for (let i = 0; i <= replicaCount; i++) {
      const port = await freePort();
      if (i === 0) primaryPort = port;
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--repl-diskless-sync-delay',
        '0',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        path.join(dir, String(port)),
      ];
      if (i > 0) args.push('--replicaof', '127.0.0.1', String(primaryPort));
      servers.push({ port, address: `127.0.0.1:${port}`, process: new RedisProcess(port, path.join(dir, String(port)), args) });
    }
    await servers[0].process.start();
    await Promise.all(servers.slice(1).map((s) => s.process.start()));
    await settle(
      'the replicas to be online',
      async () => {
        const info = String(await ask(primaryPort, 'INFO', 'replication'));
        const online = info.split('\n').filter((l) => /^slave\d+:.*state=online/.test(l)).length;
        return online < replicaCount ? `${online} of ${replicaCount} replicas online` : undefined;
      },
      30_000,
    );
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const sdir = path.join(dir, `sentinel-${port}`);
      mkdirSync(sdir, { recursive: true });
      const conf = path.join(sdir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${sdir}`,
          'sentinel resolve-hostnames no',
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} ${quorum}`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(new RedisProcess(port, sdir, [conf, '--sentinel']));
    }
    await Promise.all(sentinels.map((s) => s.start()));
    // Sentinels find each other and the replicas through the primary (hello messages every 2 s).
    await settle(
      'every Sentinel to know the primary, its replicas and the other Sentinels',
      async () => {
        for (const s of sentinels) {
          const addr = (await ask(s.port, 'SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
          if (!addr || Number(addr[1]) !== primaryPort) return `sentinel ${s.port} announces ${JSON.stringify(addr)}`;
          const reps = (await ask(s.port, 'SENTINEL', 'replicas', name)) as unknown[];
          if (reps.length < replicaCount) return `sentinel ${s.port} knows ${reps.length} replica(s)`;
          const others = (await ask(s.port, 'SENTINEL', 'sentinels', name)) as unknown[];
          if (others.length < sentinelCount - 1) return `sentinel ${s.port} knows ${others.length} other Sentinel(s)`;
        }
        return undefined;
      },
      30_000,
    );
  } catch (err) {
    await Promise.all(all().map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const announced = async (): Promise<SentinelDataNode | undefined> => {
    let port: number | undefined;
    for (const s of sentinels.filter((x) => x.alive)) {
      const addr = (await ask(s.port, 'SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
      const p = addr ? Number(addr[1]) : 0;
      if (port === undefined) port = p;
      else if (p !== port) return undefined;
    }
    return servers.find((x) => x.port === port);
  };
  const set: RedisSentinelSet = {
    name,
    servers,
    sentinels,
    env: {
      REDIS_URL: '',
      MIXER_REDIS_CLUSTER: '',
      MIXER_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      MIXER_REDIS_SENTINEL_NAME: name,
    },
    async primary() {
      const p = await announced();
      if (!p) throw new Error('the Sentinels do not agree on a primary');
      return p;
    },
    async killPrimary() {
      const killed = await set.primary();
      await killed.process.stop('SIGKILL');
      let promoted: SentinelDataNode | undefined;
      await settle(
        `the Sentinels to promote a replica of ${killed.address}`,
        async () => {
          const p = await announced();
          if (!p || p === killed) return `Sentinels announce ${p?.address ?? 'different primaries'}`;
          const role = (await ask(p.port, 'ROLE')) as unknown[];
          if (role[0] !== 'master') return `${p.address} says role ${String(role[0])}`;
          promoted = p;
          return undefined;
        },
        30_000,
      );
      return { killed, promoted: promoted! };
    },
    async restart(node) {
      await node.process.start();
      await settle(
        `${node.address} back as a replica`,
        async () => {
          const info = infoFields(String(await ask(node.port, 'INFO', 'replication')));
          if (info.role !== 'slave' || info.master_link_status !== 'up') return `${node.address}: role ${info.role}, link ${info.master_link_status}`;
          return undefined;
        },
        30_000,
      );
    },
    async stop() {
      await Promise.all(all().map((p) => p.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return set;
}

// ---------------------------------------------------------------------------------------------
// The mode switch

export type RedisModeName = 'server' | 'cluster' | 'sentinel';
export const REDIS_MODES: readonly RedisModeName[] = ['server', 'cluster', 'sentinel'];

/** One Redis mode as a test sees it (usable once the mode's `before` hook has run). */
export interface RedisMode {
  readonly name: RedisModeName;
  /** Environment for Mixer processes (REDIS_URL or MIXER_REDIS_CLUSTER or MIXER_REDIS_SENTINELS). */
  readonly env: NodeJS.ProcessEnv;
  /** The cluster, when `name` is `cluster`. */
  readonly cluster: RedisCluster | undefined;
  /** The Sentinel set, when `name` is `sentinel`. */
  readonly sentinel: RedisSentinelSet | undefined;
  /** A client for the test's own reads, made by Mixer's factory (closed by the mode's `after` hook). */
  connect(role?: ConnectionRole): RedisConnection;
  /** Keys matching `pattern` on every primary (SCAN, never KEYS). */
  keys(pattern: string): Promise<string[]>;
  /** Deletes every key under `prefix` (no glob characters) on every primary. */
  deleteKeys(prefix: string): Promise<void>;
}

async function scanAll(conn: RedisConnection, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isCluster(conn) ? conn.nodes('master') : [conn];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** The modes chosen by `MIXER_TEST_REDIS_MODES` (comma-separated; default all three). */
export function chosenRedisModes(): RedisModeName[] {
  const raw = process.env.MIXER_TEST_REDIS_MODES;
  if (!raw) return [...REDIS_MODES];
  const names = raw.split(',').map((s) => s.trim());
  for (const n of names) if (!(REDIS_MODES as readonly string[]).includes(n)) throw new Error(`MIXER_TEST_REDIS_MODES: unknown mode ${JSON.stringify(n)}`);
  return names as RedisModeName[];
}

/** Starts (or, for `server`, points at `TEST_REDIS_URL`) one mode's Redis; `stop` undoes it. */
export async function startRedisMode(name: RedisModeName): Promise<RedisMode & { stop(): Promise<void> }> {
  let cluster: RedisCluster | undefined;
  let sentinel: RedisSentinelSet | undefined;
  let env: NodeJS.ProcessEnv;
  if (name === 'cluster') {
    cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1 });
    env = cluster.env;
  } else if (name === 'sentinel') {
    sentinel = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    env = sentinel.env;
  } else {
    env = { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', MIXER_REDIS_CLUSTER: '', MIXER_REDIS_SENTINELS: '' };
  }
  const spec = redisSpecFromEnv(env)!;
  const clients: RedisConnection[] = [];
  let admin: RedisConnection | undefined;
  const adminConn = (): RedisConnection => (admin ??= mode.connect());
  const mode = {
    name,
    env,
    cluster,
    sentinel,
    connect(role: ConnectionRole = 'lazy') {
      const c = connectRedis(spec, role);
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async keys(pattern: string) {
      const c = adminConn();
      if (isCluster(c) && c.status !== 'ready') await c.connect().catch(() => undefined);
      else if (!isCluster(c) && c.status === 'wait') await c.connect();
      return scanAll(c, pattern);
    },
    async deleteKeys(prefix: string) {
      const c = adminConn();
      for (const key of await mode.keys(`${prefix}*`)) await c.del(key);
    },
    async stop() {
      for (const c of clients.splice(0)) c.disconnect();
      await cluster?.stop();
      await sentinel?.stop();
    },
  };
  return mode;
}

/**
 * Runs `body` once per Redis mode (see {@link chosenRedisModes}) inside a suite titled with the mode
 * and `@redis`; the mode's topology starts in that suite's `before` hook and stops in its `after`
 * hook, so `mode.env` and `mode.connect()` are for use inside hooks and tests, not at declaration.
 */
export function forEachRedisMode(body: (mode: RedisMode) => void): void {
  for (const name of chosenRedisModes()) {
    describe(`Redis ${name} @redis`, function () {
      this.timeout(60_000);
      let started: (RedisMode & { stop(): Promise<void> }) | undefined;
      const unstarted = (): never => {
        throw new Error(`Redis ${name}: use the mode inside hooks and tests (its before hook starts it)`);
      };
      const mode: RedisMode = {
        name,
        get env() {
          return started?.env ?? unstarted();
        },
        get cluster() {
          return started ? started.cluster : unstarted();
        },
        get sentinel() {
          return started ? started.sentinel : unstarted();
        },
        connect: (role) => (started ?? unstarted()).connect(role),
        keys: (pattern) => (started ?? unstarted()).keys(pattern),
        deleteKeys: (prefix) => (started ?? unstarted()).deleteKeys(prefix),
      };
      before(async () => {
        started = await startRedisMode(name);
      });
      after(async () => {
        await started?.stop();
        started = undefined;
      });
      body(mode);
    });
  }
}
