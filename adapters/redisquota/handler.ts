import { createHash } from 'node:crypto';
import { Code } from '../../src/sdk';
import type { AdapterEnv, Handler, InstanceValue, QuotaArgs, QuotaResult, RedisConnection } from '../../src/sdk';
import type { RedisQuotaLimit, RedisQuotaSettings } from './config';
import { defineQuotaScripts } from './scripts';
import type { QuotaScripts } from './scripts';

/** Test hooks of {@link RedisQuotaHandler}. */
export interface RedisQuotaOptions {
  /** Clock for ROLLING_WINDOW buckets, ms; default: the Redis server's clock (shared by all replicas). */
  now?: () => number;
}

/** Dimension encodings longer than this are replaced by their SHA-256 in keys. */
const MAX_READABLE_DIMS = 200;

function dimensionsOf(fields: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const d = fields.dimensions;
  return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {};
}

/** Key-order-independent encoding of a dimension set (values as text). */
function canonicalDimensions(dims: Readonly<Record<string, unknown>>): string {
  const text = JSON.stringify(
    Object.keys(dims)
      .sort()
      .map((k) => [k, String(dims[k])]),
  );
  return text.length <= MAX_READABLE_DIMS ? text : `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/**
 * Quotas shared through Redis: every Mixer replica whose handler has the same name (so the same
 * `env.keyPrefix`) draws from one limit. Each allocation is one Lua script, atomic in Redis.
 * Redis errors make `quota()` reject. `close()` closes the connection only if the handler opened
 * it (`redisServerUrl`); it is safe twice.
 */
export class RedisQuotaHandler implements Handler {
  private readonly quotas: ReadonlyMap<string, RedisQuotaLimit>;
  private readonly scripts: QuotaScripts;
  private readonly unknownLogged = new Set<string>();
  private closed = false;

  constructor(
    settings: RedisQuotaSettings,
    private readonly env: AdapterEnv,
    private readonly redis: RedisConnection,
    private readonly ownsConnection: boolean,
    private readonly opts: RedisQuotaOptions = {},
  ) {
    this.quotas = new Map(settings.quotas.map((q) => [q.name, q]));
    this.scripts = defineQuotaScripts(redis);
  }

  /** The Redis key holding the state of one quota and dimension set. */
  keyOf(q: RedisQuotaLimit, dims: Readonly<Record<string, unknown>>): string {
    const algo = q.algorithm === 'FIXED_WINDOW' ? 'fixed' : 'rolling';
    return `${this.env.keyPrefix}redisquota:${algo}:${q.name}:${canonicalDimensions(dims)}`;
  }

  /**
   * Allocates `args.amount`: granted in full, or (bestEffort) what remains, or 0 with
   * RESOURCE_EXHAUSTED; `validDuration` is the quota's. A quota with no configured limit grants 0
   * with INVALID_ARGUMENT. `dedupId` is not used (see README.md).
   */
  async quota(instance: InstanceValue, args: QuotaArgs): Promise<QuotaResult> {
    const q = this.lookup(instance.name);
    if (!q) return this.unknown(instance.name);
    const dims = dimensionsOf(instance.fields);
    const override = q.overrides.find((o) => Object.entries(o.dimensions).every(([k, v]) => dims[k] !== undefined && String(dims[k]) === v));
    const max = override?.maxAmount ?? q.maxAmount;
    const amount = Math.max(0, Math.floor(args.amount));
    const best = args.bestEffort ? '1' : '0';
    const key = this.keyOf(q, dims);
    const granted =
      q.algorithm === 'FIXED_WINDOW'
        ? await this.scripts.fixedWindow(key, String(max), String(amount), String(q.validDuration), best)
        : await this.scripts.rollingWindow(
            key,
            String(max),
            String(amount),
            String(q.validDuration),
            String(q.bucketDuration),
            best,
            this.opts.now ? String(Math.floor(this.opts.now())) : '',
          );
    const result: QuotaResult = { grantedAmount: Number(granted), validDuration: q.validDuration };
    if (result.grantedAmount === 0 && amount > 0) result.status = { code: Code.RESOURCE_EXHAUSTED, message: `quota ${q.name} is exhausted` };
    return result;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsConnection) return;
    if (this.redis.status === 'ready') {
      try {
        await this.redis.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    this.redis.disconnect();
  }

  private lookup(name: string): RedisQuotaLimit | undefined {
    const exact = this.quotas.get(name);
    if (exact) return exact;
    const slash = name.lastIndexOf('/');
    return slash < 0 ? undefined : this.quotas.get(name.slice(slash + 1));
  }

  private unknown(name: string): QuotaResult {
    if (!this.unknownLogged.has(name) && this.unknownLogged.size < 1000) {
      this.unknownLogged.add(name);
      this.env.logger.warn({ quota: name }, 'redisquota: no limit configured for this quota instance; granting 0');
    }
    return { grantedAmount: 0, validDuration: 0, status: { code: Code.INVALID_ARGUMENT, message: `redisquota has no limit for quota ${name}` } };
  }
}
