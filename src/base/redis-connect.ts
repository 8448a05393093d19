/**
 * Every Redis connection Mixer opens comes from here: one server (`REDIS_URL`), Redis Cluster
 * (`MIXER_REDIS_CLUSTER`, seed nodes) or a primary watched by Sentinel (`MIXER_REDIS_SENTINELS` and
 * `MIXER_REDIS_SENTINEL_NAME`), with the same password and TLS settings for all three. Callers say
 * what the connection is for (a {@link ConnectionRole}) and get a `Redis` or a `Cluster`; nothing else
 * in the code knows which mode is on. The spec is plain data, so it crosses to worker threads.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

/** A connection to Redis in any of the three modes (the SDK's `RedisConnection`). */
export type RedisConnection = Redis | Cluster;

export interface RedisEndpoint {
  host: string;
  port: number;
}

/** Which Redis: one server, a cluster (seed nodes) or a Sentinel-watched primary. */
export type RedisTarget =
  { mode: 'server'; url: string } | { mode: 'cluster'; nodes: RedisEndpoint[] } | { mode: 'sentinel'; sentinels: RedisEndpoint[]; name: string };

/** Everything needed to open a connection (plain data: structured-cloneable). */
export interface RedisSpec {
  target: RedisTarget;
  /** MIXER_REDIS_USERNAME / MIXER_REDIS_PASSWORD: ACL user and password of the data nodes (a `REDIS_URL` may carry its own). */
  username?: string;
  password?: string;
  /** MIXER_REDIS_SENTINEL_PASSWORD: password of the Sentinels themselves, when they have one. */
  sentinelPassword?: string;
  /** MIXER_REDIS_TLS=on (or a `rediss://` URL): TLS to the data nodes (and Sentinels), verified against `tlsCa` (MIXER_REDIS_TLS_CA, a PEM file) or the system roots. */
  tls?: { ca?: string; servername?: string };
}

/**
 * What a connection is for:
 * - `command`: Mixer's own commands; fails fast (no offline queue, one retry) so callers answer 503
 *   instead of hanging while no primary is reachable.
 * - `blocking`: BullMQ workers' connections (`maxRetriesPerRequest: null`, commands wait for a primary).
 * - `subscriber`: pub/sub (config changes, the tap fan-in); resubscribes after reconnecting.
 * - `lazy`: connects on first use, one retry (quota handlers, CLI commands).
 */
export type ConnectionRole = 'command' | 'blocking' | 'subscriber' | 'lazy';

function endpoints(name: string, raw: string): RedisEndpoint[] {
  const out: RedisEndpoint[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) throw new Error(`${name}: ${JSON.stringify(item)} is not host:port`);
    out.push({ host: m[1] ?? m[2], port });
  }
  if (out.length === 0) throw new Error(`${name} names no host:port`);
  return out;
}

/**
 * The Redis spec of the environment (and of a `--redis-url` flag, which stands for `REDIS_URL`), or
 * undefined when none of REDIS_URL, MIXER_REDIS_CLUSTER and MIXER_REDIS_SENTINELS is set. Throws a
 * message naming the variable when a value is malformed or more than one mode is chosen.
 */
export function redisSpecFromEnv(env: NodeJS.ProcessEnv, urlFlag?: string): RedisSpec | undefined {
  const url = (urlFlag ?? env.REDIS_URL) || undefined;
  const cluster = env.MIXER_REDIS_CLUSTER || undefined;
  const sentinels = env.MIXER_REDIS_SENTINELS || undefined;
  const chosen = [url && 'REDIS_URL', cluster && 'MIXER_REDIS_CLUSTER', sentinels && 'MIXER_REDIS_SENTINELS'].filter(Boolean);
  if (chosen.length > 1) throw new Error(`set one of ${chosen.join(', ')}: they choose different Redis modes`);
  let target: RedisTarget;
  if (url) {
    if (!/^rediss?:\/\//.test(url))
      throw new Error(`REDIS_URL must start with redis:// or rediss://, got ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//***@'))}`);
    target = { mode: 'server', url };
  } else if (cluster) {
    target = { mode: 'cluster', nodes: endpoints('MIXER_REDIS_CLUSTER', cluster) };
  } else if (sentinels) {
    target = { mode: 'sentinel', sentinels: endpoints('MIXER_REDIS_SENTINELS', sentinels), name: env.MIXER_REDIS_SENTINEL_NAME || 'mymaster' };
  } else {
    return undefined;
  }
  const tlsOn = env.MIXER_REDIS_TLS === 'on' || env.MIXER_REDIS_TLS === 'true' || (target.mode === 'server' && target.url.startsWith('rediss://'));
  if (env.MIXER_REDIS_TLS && !['on', 'off', 'true', 'false'].includes(env.MIXER_REDIS_TLS))
    throw new Error(`MIXER_REDIS_TLS must be on or off, got ${JSON.stringify(env.MIXER_REDIS_TLS)}`);
  let tls: RedisSpec['tls'];
  if (tlsOn) {
    let ca: string | undefined;
    if (env.MIXER_REDIS_TLS_CA) {
      try {
        ca = readFileSync(env.MIXER_REDIS_TLS_CA, 'utf8');
      } catch (err) {
        throw new Error(`MIXER_REDIS_TLS_CA: cannot read ${env.MIXER_REDIS_TLS_CA}: ${(err as Error).message}`, { cause: err });
      }
    }
    tls = { ca, servername: env.MIXER_REDIS_TLS_SERVERNAME || undefined };
  }
  return {
    target,
    username: env.MIXER_REDIS_USERNAME || undefined,
    password: env.MIXER_REDIS_PASSWORD || undefined,
    sentinelPassword: env.MIXER_REDIS_SENTINEL_PASSWORD || undefined,
    tls,
  };
}

/** A one-line description for logs (no password). */
export function describeRedis(spec: RedisSpec): string {
  const t = spec.target;
  const list = (e: RedisEndpoint[]) => e.map((n) => `${n.host}:${n.port}`).join(',');
  if (t.mode === 'server') return t.url.replace(/\/\/[^@]*@/, '//***@');
  if (t.mode === 'cluster') return `cluster ${list(t.nodes)}`;
  return `sentinel ${t.name}@${list(t.sentinels)}`;
}

/**
 * How often a cluster connection re-reads the slot map, ms. Each re-read opens a new connection to a
 * node for `CLUSTER SLOTS` and rebuilds a 16,384-slot table in Mixer, and every BullMQ worker holds its
 * own cluster connection (one per handler and queue shard, 16 with the default config): at 2 s for
 * all of them, an idle Mixer opened 10 connections a second across the cluster and spent ~4% of a core
 * on the tables. Workers are never idle (their blocking pops time out within seconds) and re-read at
 * once on an error (a node gone, MOVED, CLUSTERDOWN), so their timer is only a backstop; the few
 * command and subscriber connections keep a short one, so an idle one learns a failover soon.
 */
const SLOTS_REFRESH_MS: Record<ConnectionRole, number> = { command: 2000, subscriber: 2000, lazy: 2000, blocking: 30_000 };

/** Reconnect delay: 200 ms, 400 ms, ... up to 2 s, forever. */
const retryStrategy = (times: number): number => Math.min(times * 200, 2000);

function roleOptions(role: ConnectionRole): RedisOptions {
  switch (role) {
    case 'command':
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false };
    case 'blocking':
      return { maxRetriesPerRequest: null };
    case 'subscriber':
      return { maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: false };
    case 'lazy':
      return { lazyConnect: true, maxRetriesPerRequest: 1 };
  }
}

const specs = new WeakMap<RedisConnection, RedisSpec>();

/**
 * Opens a connection for `role`. `extra` adds ioredis options (e.g. `enableAutoPipelining`,
 * `connectionName`); the role's options win where both set one. The connection logs nothing by
 * itself: callers listen to `ready`/`close`/`error` as they need.
 */
export function connectRedis(spec: RedisSpec, role: ConnectionRole, extra: RedisOptions = {}): RedisConnection {
  const tls = spec.tls ? { ...(spec.tls.ca ? { ca: spec.tls.ca } : {}), ...(spec.tls.servername ? { servername: spec.tls.servername } : {}) } : undefined;
  const auth: RedisOptions = {
    ...(spec.username ? { username: spec.username } : {}),
    ...(spec.password ? { password: spec.password } : {}),
    ...(tls ? { tls } : {}),
  };
  const options: RedisOptions = { retryStrategy, ...extra, ...roleOptions(role) };
  const t = spec.target;
  let conn: RedisConnection;
  if (t.mode === 'server') {
    conn = new Redis(t.url, { ...auth, ...options });
  } else if (t.mode === 'sentinel') {
    conn = new Redis({
      ...auth,
      ...options,
      sentinels: t.sentinels,
      name: t.name,
      role: 'master',
      ...(spec.sentinelPassword ? { sentinelPassword: spec.sentinelPassword } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      // No failoverDetector: under load it can end a connection that is reconnecting, for good
      // (seen with ioredis 5.11); the retry strategy below finds the new primary through the Sentinels.
      sentinelRetryStrategy: retryStrategy,
    });
  } else {
    const { enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...auth, ...nodeOptions },
      enableOfflineQueue: enableOfflineQueue ?? true,
      lazyConnect: lazyConnect ?? false,
      clusterRetryStrategy: retryStrategy,
      // A failover moves slots: ask again soon, and follow MOVED/ASK.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
      slotsRefreshTimeout: 2000,
      slotsRefreshInterval: SLOTS_REFRESH_MS[role],
      enableAutoPipelining: extra.enableAutoPipelining ?? false,
      ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    };
    conn = new Cluster(t.nodes, clusterOptions);
  }
  specs.set(conn, spec);
  return conn;
}

/** The spec a connection was opened with (for worker threads and duplicates), if it came from {@link connectRedis}. */
export function specOf(conn: RedisConnection): RedisSpec | undefined {
  return specs.get(conn);
}

/** Whether `conn` is a Redis Cluster connection (for code that must route a keyless command). */
export function isCluster(conn: RedisConnection): conn is Cluster {
  return conn instanceof Cluster;
}

/**
 * A new connection to the same Redis as `conn`, for `role` (a subscriber, a blocking consumer):
 * from its spec when it came from {@link connectRedis}, else ioredis' `duplicate` with the role's options.
 */
export function duplicateConnection(conn: RedisConnection, role: ConnectionRole, extra: RedisOptions = {}): RedisConnection {
  const spec = specOf(conn);
  if (spec) return connectRedis(spec, role, extra);
  const options = { ...extra, ...roleOptions(role) };
  if (isCluster(conn)) {
    const { enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
    return conn.duplicate(undefined, { enableOfflineQueue: enableOfflineQueue ?? true, lazyConnect: lazyConnect ?? false, redisOptions: nodeOptions });
  }
  return conn.duplicate(options);
}
