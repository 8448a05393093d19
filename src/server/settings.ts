import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DeadLetterLimits } from '../queue/dead-letters';
import type { DeliveryOptions } from '../queue/report-queue';
import { parseRedactedHeaders } from '../attributes/redact';
import type { TapLimits } from '../tap/service';
import { redisSpecFromEnv } from '../base/redis-connect';
import type { RedisSpec } from '../base/redis-connect';
import { caSettingsFromEnv } from './mesh-ca';
import type { CaSettings } from './mesh-ca';

/** Everything `mixer serve` can be told, from flags or the environment (flags win). */
export interface Settings {
  /** MIXER_PORT, default 9091 (0 picks a free port). */
  port: number;
  /**
   * MIXER_GRPC_PORT, default 9092: the gRPC listener (Envoy ext_authz v3, Envoy ALS v3, Istio mixer
   * v1). `0` turns it off (as does `--grpc-port 0`).
   */
  grpcPort: number;
  /** Address to listen on, MIXER_HOST, default 0.0.0.0. */
  host: string;
  /** MIXER_CONFIG_DIR, default `rules/` under the package. */
  configDir: string;
  /**
   * MIXER_PLUGINS_DIR: folder of operator adapter plugins (`<dir>/<adapter>/`), also a starting point
   * for resolving npm-installed plugins. Default: `plugins/` next to the config directory (the
   * package's `plugins/` with the default `rules/`). It need not exist.
   */
  pluginsDir: string;
  /**
   * Redis: REDIS_URL (one server), MIXER_REDIS_CLUSTER (Redis Cluster seed nodes) or
   * MIXER_REDIS_SENTINELS + MIXER_REDIS_SENTINEL_NAME (a Sentinel-watched primary), with
   * MIXER_REDIS_USERNAME/PASSWORD/TLS for all three. Unset means the embedded in-process queue.
   */
  redis?: RedisSpec;
  /**
   * MIXER_QUEUE_SHARDS: the report queue is split into this many shards, each on its own hash slot
   * (default 3 on Redis Cluster: one per primary of the smallest cluster; 1 otherwise). Every shard
   * costs each process its own BullMQ workers (one per report handler, and one for the batches), each
   * polling with a connection of its own, so more shards than primaries cost CPU and spread nothing.
   */
  queueShards: number;
  /** MIXER_ADMIN_TOKEN, or the contents of MIXER_ADMIN_TOKEN_FILE; unset turns the config API off. */
  adminToken?: string;
  /** MIXER_MAX_BODY_BYTES, default 1 MiB. */
  maxBodyBytes: number;
  /** MIXER_MAX_CONFIG_BODY_BYTES: largest config API PUT body, default 64 KiB. */
  maxConfigBodyBytes: number;
  /** MIXER_REDACT_HEADERS: header names redacted from reported bags (comma list, or `none`); default authorization, cookie, proxy-authorization, set-cookie. */
  redactHeaders: ReadonlySet<string>;
  /** MIXER_MAX_ATTRIBUTES, attributes per bag, default 256. */
  maxAttributes: number;
  /** MIXER_MAX_BAGS, bags per report, default 1000. */
  maxBags: number;
  /** MIXER_ADAPTER_TIMEOUT_MS: longest an adapter call on the check path may take, default 1000. */
  adapterTimeoutMs: number;
  /** MIXER_KEY_PREFIX: prefix of every Redis key Mixer writes, default `mixer:`. */
  keyPrefix: string;
  /** MIXER_LOG_LEVEL, default info. */
  logLevel: string;
  /** Run report workers in this process (`mixer serve` default true; `--no-worker` turns it off). */
  worker: boolean;
  /** MIXER_METRICS_PORT: where `mixer worker` serves /metrics, default 9093. */
  metricsPort: number;
  /**
   * Report delivery policy: MIXER_REPORT_ATTEMPTS, MIXER_REPORT_BACKOFF_MS, MIXER_REPORT_MAX_BACKOFF_MS, MIXER_REPORT_TIMEOUT_MS,
   * MIXER_REPORT_CONCURRENCY, MIXER_REMOVED_HANDLER_GRACE_MS.
   */
  delivery: Partial<DeliveryOptions>;
  /** Dead-letter bounds per handler: MIXER_DEAD_LETTER_MAX_COUNT, MIXER_DEAD_LETTER_MAX_BYTES, MIXER_DEAD_LETTER_TTL_S. */
  deadLetters: DeadLetterLimits;
  /** Live tap limits: MIXER_TAP_MAX (taps open at once per replica, default 10), MIXER_TAP_RATE (events a second per tap, default 100). */
  tap: TapLimits;
  /** The mesh CA (MIXER_CA, MIXER_CA_CERT/MIXER_CA_KEY, MIXER_CA_TTL, MIXER_CLIENT_AUTH, ...); unset: off, plaintext HTTP. */
  ca?: CaSettings;
}

/** The default config directory: `rules/` of the package. */
export const DEFAULT_CONFIG_DIR = path.resolve(__dirname, '..', '..', '..', 'rules');

function int(name: string, raw: string | undefined, def: number, min = 0): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Resolves settings from flags (already parsed) over the environment. Throws on bad values. */
export function resolveSettings(
  flags: Partial<Record<Exclude<keyof Settings, 'delivery' | 'deadLetters' | 'tap' | 'ca' | 'redis'> | 'redisUrl', string | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  let adminToken = env.MIXER_ADMIN_TOKEN || undefined;
  if (!adminToken && env.MIXER_ADMIN_TOKEN_FILE) {
    adminToken = readFileSync(env.MIXER_ADMIN_TOKEN_FILE, 'utf8').trim() || undefined;
  }
  const configDir = path.resolve(flags.configDir ?? env.MIXER_CONFIG_DIR ?? DEFAULT_CONFIG_DIR);
  const redis = redisSpecFromEnv(env, flags.redisUrl || undefined);
  return {
    port: int('MIXER_PORT', flags.port ?? env.MIXER_PORT, 9091),
    grpcPort: int('MIXER_GRPC_PORT', flags.grpcPort ?? env.MIXER_GRPC_PORT, 9092),
    host: flags.host ?? env.MIXER_HOST ?? '0.0.0.0',
    configDir,
    pluginsDir: path.resolve((flags.pluginsDir ?? env.MIXER_PLUGINS_DIR) || path.join(configDir, '..', 'plugins')),
    redis,
    queueShards: int('MIXER_QUEUE_SHARDS', flags.queueShards ?? env.MIXER_QUEUE_SHARDS, redis?.target.mode === 'cluster' ? 3 : 1, 1),
    adminToken,
    maxBodyBytes: int('MIXER_MAX_BODY_BYTES', flags.maxBodyBytes ?? env.MIXER_MAX_BODY_BYTES, 1024 * 1024, 1),
    redactHeaders: parseRedactedHeaders(env.MIXER_REDACT_HEADERS),
    maxConfigBodyBytes: int('MIXER_MAX_CONFIG_BODY_BYTES', flags.maxConfigBodyBytes ?? env.MIXER_MAX_CONFIG_BODY_BYTES, 64 * 1024, 1),
    maxAttributes: int('MIXER_MAX_ATTRIBUTES', flags.maxAttributes ?? env.MIXER_MAX_ATTRIBUTES, 256, 1),
    maxBags: int('MIXER_MAX_BAGS', flags.maxBags ?? env.MIXER_MAX_BAGS, 1000, 1),
    adapterTimeoutMs: int('MIXER_ADAPTER_TIMEOUT_MS', flags.adapterTimeoutMs ?? env.MIXER_ADAPTER_TIMEOUT_MS, 1000, 1),
    keyPrefix: flags.keyPrefix ?? env.MIXER_KEY_PREFIX ?? 'mixer:',
    logLevel: flags.logLevel ?? env.MIXER_LOG_LEVEL ?? 'info',
    worker: flags.worker !== 'false',
    metricsPort: int('MIXER_METRICS_PORT', flags.metricsPort ?? env.MIXER_METRICS_PORT, 9093),
    ca: caSettingsFromEnv(env),
    delivery: {
      attempts: int('MIXER_REPORT_ATTEMPTS', env.MIXER_REPORT_ATTEMPTS, 12, 1),
      backoffMs: int('MIXER_REPORT_BACKOFF_MS', env.MIXER_REPORT_BACKOFF_MS, 500, 1),
      maxBackoffMs: int('MIXER_REPORT_MAX_BACKOFF_MS', env.MIXER_REPORT_MAX_BACKOFF_MS, 30_000, 1),
      timeoutMs: int('MIXER_REPORT_TIMEOUT_MS', env.MIXER_REPORT_TIMEOUT_MS, 30_000, 1),
      concurrency: int('MIXER_REPORT_CONCURRENCY', env.MIXER_REPORT_CONCURRENCY, 4, 1),
      removedHandlerGraceMs: int('MIXER_REMOVED_HANDLER_GRACE_MS', env.MIXER_REMOVED_HANDLER_GRACE_MS, 600_000, 0),
    },
    deadLetters: {
      maxCount: int('MIXER_DEAD_LETTER_MAX_COUNT', env.MIXER_DEAD_LETTER_MAX_COUNT, 1000, 1),
      maxBytes: int('MIXER_DEAD_LETTER_MAX_BYTES', env.MIXER_DEAD_LETTER_MAX_BYTES, 64 * 1024 * 1024, 1024),
      ttlMs: int('MIXER_DEAD_LETTER_TTL_S', env.MIXER_DEAD_LETTER_TTL_S, 7 * 24 * 3600, 1) * 1000,
    },
    tap: { maxTaps: int('MIXER_TAP_MAX', env.MIXER_TAP_MAX, 10, 0), maxRate: int('MIXER_TAP_RATE', env.MIXER_TAP_RATE, 100, 1) },
  };
}
