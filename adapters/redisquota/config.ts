import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, StringEnum, parseDuration } from '../../src/sdk';

/** Rate-limit algorithms of Istio's redisquota. */
export const ALGORITHMS = ['FIXED_WINDOW', 'ROLLING_WINDOW'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** Most buckets a rolling window may have (validDuration / bucketDuration). */
export const MAX_BUCKETS = 1000;

const Override = Type.Object(
  {
    /** Applies when every one of these dimensions equals the instance's (values compared as text). */
    dimensions: Type.Record(Type.String(), Type.String()),
    maxAmount: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

const Quota = Type.Object(
  {
    /** Quota instance this limit is for: `namespace/name`, or the short `name`. */
    name: Type.String({ minLength: 1 }),
    maxAmount: Type.Integer({ minimum: 0 }),
    /** Window length (Go duration, more than 0). */
    validDuration: GoDuration(),
    /** ROLLING_WINDOW only: bucket length, more than 0 and less than validDuration. */
    bucketDuration: Type.Optional(GoDuration({ default: '0s' })),
    rateLimitAlgorithm: Type.Optional(StringEnum(ALGORITHMS, { default: 'FIXED_WINDOW' })),
    /** First matching override wins. */
    overrides: Type.Optional(Type.Array(Override, { default: [] })),
  },
  { additionalProperties: false },
);

/** Params of the `redisquota` handler (Istio 1.4 names). */
export const RedisQuotaParams = Type.Object(
  {
    /** `host:port` (Istio's form) or a `redis://` / `rediss://` URL; absent: Mixer's own Redis (`REDIS_URL`). */
    redisServerUrl: Type.Optional(Type.String({ minLength: 1 })),
    /** Accepted for Istio compatibility; one multiplexed, auto-pipelined connection is used. */
    connectionPoolSize: Type.Optional(Type.Integer({ minimum: 1, default: 10 })),
    quotas: Type.Optional(Type.Array(Quota, { default: [] })),
  },
  { additionalProperties: false },
);

/** redisquota params as written (after schema defaults). */
export type RedisQuotaConfig = Static<typeof RedisQuotaParams>;

/** One configured quota with its overrides, durations in whole ms. */
export interface RedisQuotaLimit {
  name: string;
  algorithm: Algorithm;
  maxAmount: number;
  /** ms, ≥ 1 */
  validDuration: number;
  /** ms; 0 for FIXED_WINDOW */
  bucketDuration: number;
  overrides: ReadonlyArray<{ dimensions: Readonly<Record<string, string>>; maxAmount: number }>;
}

/** redisquota params with defaults filled in. */
export interface RedisQuotaSettings {
  /** Normalised `redis://` URL, or undefined to use the env's connection. */
  redisServerUrl?: string;
  quotas: readonly RedisQuotaLimit[];
}

function ms(field: string, text: string): number {
  const v = parseDuration(text);
  if (v === undefined || v < 0) throw new Error(`params.${field}: "${text}" is not a duration`);
  return Math.ceil(v);
}

/** Fills defaults, converts durations (rounded up to whole ms) and checks cross-field rules; throws a clear Error. */
export function resolveRedisQuotaConfig(config: RedisQuotaConfig): RedisQuotaSettings {
  const seen = new Set<string>();
  const quotas = (config.quotas ?? []).map((q, i): RedisQuotaLimit => {
    const at = `quotas[${i}]`;
    if (seen.has(q.name)) throw new Error(`params.${at}.name: "${q.name}" is configured twice`);
    seen.add(q.name);
    const algorithm = q.rateLimitAlgorithm ?? 'FIXED_WINDOW';
    const validDuration = ms(`${at}.validDuration`, q.validDuration);
    if (validDuration <= 0) throw new Error(`params.${at}.validDuration: must be more than 0`);
    let bucketDuration = 0;
    if (algorithm === 'ROLLING_WINDOW') {
      bucketDuration = ms(`${at}.bucketDuration`, q.bucketDuration ?? '0s');
      if (bucketDuration <= 0 || bucketDuration >= validDuration) {
        throw new Error(`params.${at}.bucketDuration: ROLLING_WINDOW needs a bucketDuration more than 0 and less than validDuration`);
      }
      if (Math.ceil(validDuration / bucketDuration) > MAX_BUCKETS) {
        throw new Error(`params.${at}.bucketDuration: at most ${MAX_BUCKETS} buckets per window (validDuration / bucketDuration)`);
      }
    }
    return { name: q.name, algorithm, maxAmount: q.maxAmount, validDuration, bucketDuration, overrides: q.overrides ?? [] };
  });
  const url = config.redisServerUrl;
  return { redisServerUrl: url === undefined ? undefined : /^rediss?:\/\//.test(url) ? url : `redis://${url}`, quotas };
}
