import { duplicateConnection } from '../base/redis-connect';
import type { RedisConnection } from '../base/redis-connect';
import type { Logger } from 'pino';
import type { ApiContents, ApiRecord, ApiStore, WriteResult } from './api-store';

/** The hash field holding the store's version (config keys always contain `/`, so it cannot collide). */
const VERSION_FIELD = '#version';

/**
 * One conditional change, atomic in Redis: compare the version, write or delete the field, bump the
 * version, and publish the new version. KEYS[1] the hash; ARGV: ifVersion ('' for any), op, field,
 * value, channel. Answers {1, version} or {0, version found}.
 */
const CHANGE_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], '${VERSION_FIELD}') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= cur then return {0, cur} end
if ARGV[2] == 'put' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) else redis.call('HDEL', KEYS[1], ARGV[3]) end
local v = tostring(redis.call('HINCRBY', KEYS[1], '${VERSION_FIELD}', 1))
redis.call('PUBLISH', ARGV[5], cjson.encode({version = v, op = ARGV[2], key = ARGV[3]}))
return {1, v}
`;

/** Options of {@link RedisApiStore}. */
export interface RedisApiStoreOptions {
  /** How long the first read waits for the connection to be ready, ms (default 5 000); later reads fail fast. */
  connectWaitMs?: number;
}

/**
 * API objects in Redis: a hash `${keyPrefix}{config}:objects` (field `Kind/namespace/name`, value
 * `{"text", "updatedAt"}`, plus a version field), changed only by one atomic script that also publishes
 * the new version on `${keyPrefix}config:changed`. Every process subscribes on a connection of its own and
 * is told again after every reconnect, so a message missed while disconnected is made up for.
 */
export class RedisApiStore implements ApiStore {
  readonly kind = 'redis' as const;
  readonly location: string;
  readonly channel: string;
  private sub: RedisConnection | undefined;
  private readonly listeners = new Set<(version: string | undefined) => void>();
  private firstWait: Promise<void> | undefined;
  private waited = false;
  private closed = false;
  /** The command connection is back: reads work again, so changes missed meanwhile can be read. */
  private readonly onCommandReady = (): void => this.emit(undefined);

  /** `redis` is shared (commands only) and stays open on close; the subscriber connection is this store's own. */
  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly logger: Logger,
    private readonly opts: RedisApiStoreOptions = {},
  ) {
    this.location = `${keyPrefix}{config}:objects`;
    this.channel = `${keyPrefix}config:changed`;
  }

  async list(): Promise<ApiContents> {
    await this.connected();
    const all = await this.redis.hgetall(this.location);
    const records = new Map<string, ApiRecord>();
    for (const [key, value] of Object.entries(all)) {
      if (key === VERSION_FIELD) continue;
      records.set(key, decode(key, value));
    }
    return { version: all[VERSION_FIELD] ?? '0', records };
  }

  put(record: ApiRecord, ifVersion?: string): Promise<WriteResult> {
    return this.change('put', record.key, JSON.stringify({ text: record.text, updatedAt: record.updatedAt }), ifVersion);
  }

  remove(key: string, ifVersion?: string): Promise<WriteResult> {
    return this.change('delete', key, '', ifVersion);
  }

  subscribe(fn: (version: string | undefined) => void): void {
    this.listeners.add(fn);
    if (this.sub || this.closed) return;
    // Own connection (a subscribed connection can run nothing else); it queues while offline and never
    // gives up, and subscribes itself on every connect, then says "changes may have been missed".
    const sub = duplicateConnection(this.redis, 'subscriber', { autoResubscribe: false });
    this.sub = sub;
    this.redis.on('ready', this.onCommandReady);
    sub.on('error', () => {
      /* the command connection reports Redis state; ioredis reconnects by itself */
    });
    sub.on('ready', () => {
      void sub.subscribe(this.channel).then(
        () => this.emit(undefined),
        (err: Error) => {
          if (!this.closed) this.logger.warn({ err: err.message, channel: this.channel }, 'config API: subscribing to changes failed; retried on reconnect');
        },
      );
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let version: string | undefined;
      try {
        version = String((JSON.parse(message) as { version?: unknown }).version ?? '') || undefined;
      } catch {
        version = undefined;
      }
      this.emit(version);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.redis.off('ready', this.onCommandReady);
    const sub = this.sub;
    this.sub = undefined;
    // Nothing to flush on a subscriber, and QUIT could wait in the offline queue while Redis is down.
    sub?.disconnect();
  }

  private emit(version: string | undefined): void {
    if (this.closed) return;
    for (const fn of this.listeners) fn(version);
  }

  private async change(op: 'put' | 'delete', key: string, value: string, ifVersion: string | undefined): Promise<WriteResult> {
    await this.connected();
    const [ok, version] = (await this.redis.eval(CHANGE_SCRIPT, 1, this.location, ifVersion ?? '', op, key, value, this.channel)) as [number, string];
    return { ok: ok === 1, version: String(version) };
  }

  /** Waits for the shared connection once (at start it is still connecting); afterwards a down Redis fails at once. */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    if (this.waited) throw new Error(`redis is ${this.redis.status}`);
    this.firstWait ??= new Promise<void>((resolve, reject) => {
      const ms = this.opts.connectWaitMs ?? 5_000;
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(new Error(`redis did not become ready within ${ms} ms (it is ${this.redis.status})`));
      }, ms);
      this.redis.once('ready', onReady);
    }).finally(() => {
      this.waited = true;
    });
    await this.firstWait;
  }
}

function decode(key: string, value: string): ApiRecord {
  try {
    const v = JSON.parse(value) as { text?: unknown; updatedAt?: unknown };
    if (typeof v.text === 'string') return { key, text: v.text, updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : '' };
  } catch {
    /* fall through: an unreadable value parses as no document, which the load reports */
  }
  return { key, text: '', updatedAt: '' };
}
