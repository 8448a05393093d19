import type { Redis } from 'ioredis';
import type { DeadLetter } from './report-queue';

/**
 * Where batches go that a handler kept failing (or failed permanently): one set per handler,
 * listed, inspected and replayed by an operator. Redis-backed with a queue in Redis, in memory otherwise.
 */
export interface DeadLetterStore {
  add(dl: DeadLetter): Promise<void>;
  list(handler: string, limit: number): Promise<DeadLetter[]>;
  get(handler: string, id: string): Promise<DeadLetter | undefined>;
  remove(handler: string, id: string): Promise<void>;
  counts(): Promise<Record<string, number>>;
}

function newestFirst(a: DeadLetter, b: DeadLetter): number {
  return a.failedAt < b.failedAt ? 1 : a.failedAt > b.failedAt ? -1 : 0;
}

/** Dead letters in Redis: a hash per handler (`<prefix>dlq:<handler>`, field = batch id) and a set of handlers. */
export class RedisDeadLetters implements DeadLetterStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(handler: string): string {
    return `${this.prefix}dlq:${handler}`;
  }

  async add(dl: DeadLetter): Promise<void> {
    await this.redis.multi().hset(this.key(dl.handler), dl.id, JSON.stringify(dl)).sadd(`${this.prefix}dlq-handlers`, dl.handler).exec();
  }

  async list(handler: string, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    let cursor = '0';
    do {
      const [next, pairs] = await this.redis.hscan(this.key(handler), cursor, 'COUNT', 200);
      cursor = next;
      for (let i = 1; i < pairs.length; i += 2) out.push(JSON.parse(pairs[i]) as DeadLetter);
    } while (cursor !== '0' && out.length < 10_000);
    return out.sort(newestFirst).slice(0, limit);
  }

  async get(handler: string, id: string): Promise<DeadLetter | undefined> {
    const raw = await this.redis.hget(this.key(handler), id);
    return raw ? (JSON.parse(raw) as DeadLetter) : undefined;
  }

  async remove(handler: string, id: string): Promise<void> {
    await this.redis.hdel(this.key(handler), id);
  }

  async counts(): Promise<Record<string, number>> {
    const handlers = await this.redis.smembers(`${this.prefix}dlq-handlers`);
    const out: Record<string, number> = {};
    if (handlers.length === 0) return out;
    const pipe = this.redis.pipeline();
    for (const h of handlers) pipe.hlen(this.key(h));
    const res = (await pipe.exec()) ?? [];
    handlers.forEach((h, i) => (out[h] = Number(res[i]?.[1] ?? 0)));
    return out;
  }
}

/** Dead letters in memory (embedded mode): lost with the process, like the embedded queue. */
export class MemoryDeadLetters implements DeadLetterStore {
  private readonly byHandler = new Map<string, Map<string, DeadLetter>>();

  async add(dl: DeadLetter): Promise<void> {
    let m = this.byHandler.get(dl.handler);
    if (!m) this.byHandler.set(dl.handler, (m = new Map<string, DeadLetter>()));
    m.set(dl.id, dl);
  }

  async list(handler: string, limit: number): Promise<DeadLetter[]> {
    return [...(this.byHandler.get(handler)?.values() ?? [])].sort(newestFirst).slice(0, limit);
  }

  async get(handler: string, id: string): Promise<DeadLetter | undefined> {
    return this.byHandler.get(handler)?.get(id);
  }

  async remove(handler: string, id: string): Promise<void> {
    this.byHandler.get(handler)?.delete(id);
  }

  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [h, m] of this.byHandler) out[h] = m.size;
    return out;
  }
}
