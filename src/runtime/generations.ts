import { randomBytes } from 'node:crypto';
import type { RedisConnection } from '../base/redis-connect';
import type { Logger } from 'pino';
import { withTimeout } from '../base/timeout';

/**
 * Which config a process serves, as sidecars see it: `generation` grows with every change of content,
 * and generations are comparable only within one `epoch`. A sidecar drops its cached verdicts when
 * either changes.
 */
export interface ConfigVersion {
  readonly generation: number;
  readonly epoch: string;
}

/**
 * Numbers configs. Replicas sharing a Redis must agree, or sidecars behind a load balancer would see
 * the generation flap between replicas and drop their caches on every answer. So the number belongs
 * to the config's content (its digest), assigned once in Redis: every replica serving the same
 * content answers the same generation and epoch. Without Redis a process numbers its own configs.
 */
export interface Generations {
  /** The version of a config with content `digest`, loaded after `previous` (undefined at start). */
  assign(digest: string, previous: ConfigVersion | undefined): Promise<ConfigVersion>;
  /** Calls `fn` when a number given out while Redis was away can be replaced by the shared one. */
  onResync(fn: () => void): void;
}

/** One process's own numbering: a new generation whenever the content changes; an epoch per process. */
export class LocalGenerations implements Generations {
  readonly epoch = randomBytes(6).toString('hex');
  private lastDigest: string | undefined;

  async assign(digest: string, previous: ConfigVersion | undefined): Promise<ConfigVersion> {
    const mine = previous?.epoch === this.epoch ? previous.generation : 0;
    const same = digest === this.lastDigest && mine > 0;
    this.lastDigest = digest;
    return { generation: same ? mine : mine + 1, epoch: this.epoch };
  }

  onResync(): void {}
}

/**
 * Looks a digest up in a Redis hash; a digest not there, or numbered earlier than the caller's
 * current generation of the same epoch (a config reverted to earlier content), takes the next number
 * of a shared counter. Replicas loading the same content in turn all read the number the first one
 * set, and the numbers each replica serves only grow. The epoch is set once (a Redis that lost its
 * keys starts a new epoch, so restarted numbering is never mistaken for the old). A caller coming
 * from another epoch (its own numbering while Redis was away, or a lost Redis) takes the number
 * the others have.
 */
const ASSIGN = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[1], KEYS[2])
end
local g = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if not g or (ARGV[4] == epoch and g < tonumber(ARGV[2])) then
  g = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], ARGV[1], g)
end
return {g, epoch}
`;

/** Most digests kept in the hash; older ones are forgotten (a config that comes back is numbered anew). */
const MAX_DIGESTS = 1000;

/** Shared numbering in Redis, with the process's own as a fallback while Redis cannot answer. */
export class RedisGenerations implements Generations {
  private readonly local = new LocalGenerations();
  private unsynced = false;
  private resync: (() => void) | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 1000,
  ) {
    redis.on('ready', () => {
      if (this.unsynced) this.resync?.();
    });
  }

  async assign(digest: string, previous: ConfigVersion | undefined): Promise<ConfigVersion> {
    // One hash tag: the script touches the three together (one slot on Redis Cluster).
    const keys = [`${this.prefix}{config}:generations`, `${this.prefix}{config}:generation`, `${this.prefix}{config}:epoch`];
    try {
      const [generation, epoch] = await withTimeout(
        this.redis.eval(ASSIGN, 3, ...keys, digest, String(previous?.generation ?? 0), randomBytes(6).toString('hex'), previous?.epoch ?? '') as Promise<
          [number, string]
        >,
        this.timeoutMs,
        'numbering the config in Redis',
      );
      this.unsynced = false;
      void this.trim(keys[0]);
      return { generation: Number(generation), epoch: String(epoch) };
    } catch (err) {
      // Still serve the config: numbered by this process, in an epoch of its own, so sidecars never
      // confuse the two numberings; renumbered once Redis is back.
      this.unsynced = true;
      this.logger.warn({ err: (err as Error).message }, 'cannot number the config in Redis; using this process’s own numbering until Redis is back');
      return this.local.assign(digest, previous);
    }
  }

  onResync(fn: () => void): void {
    this.resync = fn;
  }

  private async trim(key: string): Promise<void> {
    try {
      if ((await this.redis.hlen(key)) <= MAX_DIGESTS) return;
      const all = await this.redis.hgetall(key);
      const oldest = Object.entries(all)
        .sort((a, b) => Number(a[1]) - Number(b[1]))
        .slice(0, Object.keys(all).length - MAX_DIGESTS)
        .map(([d]) => d);
      if (oldest.length > 0) await this.redis.hdel(key, ...oldest);
    } catch {
      // Best effort: the hash only grows by one entry per distinct config.
    }
  }
}
