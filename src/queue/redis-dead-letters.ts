import type { RedisConnection } from '../base/redis-connect';
import { DEFAULT_DEAD_LETTER_LIMITS, encodeDeadLetter, isCursor } from './dead-letters';
import type { DeadLetterDropSink, DeadLetterLimits, DeadLetterStore } from './dead-letters';
import type { DeadLetter, DeadLetterPage, DeadLetterSummary } from './report-queue';

/**
 * ADD. KEYS: the handler's letters hash (id → JSON), index (sorted set, id → failedAt ms), summaries
 * hash (id → summary JSON with `bytes`) and byte total. ARGV: id, failedAt ms, JSON, summary JSON,
 * bytes, max count, max bytes, TTL ms.
 * Keeps the letter (replacing one with the same id), drops expired letters, then the oldest while
 * over the count or byte cap; every key expires a TTL after the last add. A letter over the byte cap
 * on its own is not kept. Returns {expired, dropped for count, dropped for bytes}.
 */
const ADD_LUA = `
local letters, idx, meta, total = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local size, maxCount, maxBytes, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if size > maxBytes then return {0, 0, 1} end
local bytes = tonumber(redis.call('GET', total) or '0')
local function drop(id)
  local m = redis.call('HGET', meta, id)
  if m then bytes = bytes - tonumber(cjson.decode(m).bytes) end
  redis.call('HDEL', letters, id)
  redis.call('HDEL', meta, id)
  redis.call('ZREM', idx, id)
end
drop(ARGV[1])
redis.call('HSET', letters, ARGV[1], ARGV[3])
redis.call('HSET', meta, ARGV[1], ARGV[4])
redis.call('ZADD', idx, ARGV[2], ARGV[1])
bytes = bytes + size
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {0, 0, 0}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', string.format('(%.0f', now - ttl))) do
  drop(id)
  out[1] = out[1] + 1
end
while redis.call('ZCARD', idx) > maxCount do
  drop(redis.call('ZRANGE', idx, 0, 0)[1])
  out[2] = out[2] + 1
end
while bytes > maxBytes and redis.call('ZCARD', idx) > 0 do
  drop(redis.call('ZRANGE', idx, 0, 0)[1])
  out[3] = out[3] + 1
end
if bytes < 0 then bytes = 0 end
redis.call('SET', total, string.format('%.0f', bytes))
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl) end
return out
`;

/**
 * PAGE. KEYS: index, summaries hash. ARGV: TTL ms, limit, cursor ('' for the first page, else
 * `<failedAt ms>:<id>` of the last letter of the previous page). Newest first, letters past their
 * TTL left out. When the cursor's letter is gone (replayed, dropped), the page starts after its time.
 * Returns {count, next cursor or '', summary JSON...}.
 */
const PAGE_LUA = `
local idx, meta = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local live = redis.call('ZCOUNT', idx, cutoff, '+inf')
local start = 0
if ARGV[3] ~= '' then
  local colon = string.find(ARGV[3], ':', 1, true)
  local r = redis.call('ZREVRANK', idx, string.sub(ARGV[3], colon + 1))
  if r then start = r + 1 else start = redis.call('ZCOUNT', idx, '(' .. string.sub(ARGV[3], 1, colon - 1), '+inf') end
end
local out = {live, ''}
if start >= live then return out end
local stop = math.min(start + limit, live) - 1
local got = redis.call('ZREVRANGE', idx, start, stop, 'WITHSCORES')
local ids = {}
for i = 1, #got, 2 do ids[#ids + 1] = got[i] end
if #ids > 0 then
  local ms = redis.call('HMGET', meta, unpack(ids))
  for i = 1, #ids do if ms[i] then out[#out + 1] = ms[i] end end
  if stop + 1 < live then out[2] = got[#got] .. ':' .. got[#got - 1] end
end
return out
`;

/** REMOVE. KEYS: as ADD. ARGV: id. */
const REMOVE_LUA = `
local m = redis.call('HGET', KEYS[3], ARGV[1])
if not m then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local left = tonumber(redis.call('GET', KEYS[4]) or '0') - tonumber(cjson.decode(m).bytes)
if left < 0 then left = 0 end
redis.call('SET', KEYS[4], string.format('%.0f', left), 'KEEPTTL')
return 1
`;

type Script = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Dead letters in Redis, per handler: `<prefix>{dlq:<handler>}` (hash id → dead letter JSON, as
 * before), `…:idx` (sorted set by failure time), `…:meta` (hash id → summary) and `…:bytes`; a set
 * `<prefix>dlq-handlers` names the handlers. Each change is one script over the handler's keys.
 */
export class RedisDeadLetters implements DeadLetterStore {
  private readonly run: { add: Script; page: Script; remove: Script };

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS,
    private readonly onDrop: DeadLetterDropSink = () => undefined,
  ) {
    redis.defineCommand('mixerDeadLetterAdd', { numberOfKeys: 4, lua: ADD_LUA });
    redis.defineCommand('mixerDeadLetterPage', { numberOfKeys: 2, lua: PAGE_LUA });
    redis.defineCommand('mixerDeadLetterRemove', { numberOfKeys: 4, lua: REMOVE_LUA });
    const c = redis as unknown as Record<'mixerDeadLetterAdd' | 'mixerDeadLetterPage' | 'mixerDeadLetterRemove', Script>;
    this.run = {
      add: (...a) => c.mixerDeadLetterAdd.call(redis, ...a),
      page: (...a) => c.mixerDeadLetterPage.call(redis, ...a),
      remove: (...a) => c.mixerDeadLetterRemove.call(redis, ...a),
    };
  }

  /** The handler's keys: letters, index, summaries, byte total (one hash tag per handler: its scripts touch all four). */
  keys(handler: string): [string, string, string, string] {
    const base = `${this.prefix}{dlq:${handler}}`;
    return [base, `${base}:idx`, `${base}:meta`, `${base}:bytes`];
  }

  async add(dl: DeadLetter): Promise<void> {
    const { json, summary } = encodeDeadLetter(dl);
    const at = Date.parse(dl.failedAt) || Date.now();
    const { maxCount, maxBytes, ttlMs } = this.limits;
    const [expired, count, bytes] = (await this.run.add(
      ...this.keys(dl.handler),
      dl.id,
      at,
      json,
      JSON.stringify(summary),
      summary.bytes,
      maxCount,
      maxBytes,
      ttlMs,
    )) as number[];
    await this.redis.sadd(`${this.prefix}dlq-handlers`, dl.handler);
    if (expired > 0) this.onDrop(dl.handler, 'expired', expired);
    if (count > 0) this.onDrop(dl.handler, 'count', count);
    if (bytes > 0) this.onDrop(dl.handler, 'bytes', bytes);
  }

  async page(handler: string, limit: number, cursor?: string): Promise<DeadLetterPage> {
    if (cursor !== undefined && !isCursor(cursor)) throw new Error(`not a dead-letter cursor: ${JSON.stringify(cursor)}`);
    const [, idx, meta] = this.keys(handler);
    const [count, next, ...summaries] = (await this.run.page(idx, meta, this.limits.ttlMs, limit, cursor ?? '')) as [number, string, ...string[]];
    const items = summaries.map((s) => JSON.parse(s) as DeadLetterSummary);
    return { items, count: Number(count), ...(next ? { next } : {}) };
  }

  async get(handler: string, id: string): Promise<DeadLetter | undefined> {
    const raw = await this.redis.hget(this.keys(handler)[0], id);
    return raw ? (JSON.parse(raw) as DeadLetter) : undefined;
  }

  async remove(handler: string, id: string): Promise<void> {
    await this.run.remove(...this.keys(handler), id);
  }

  async counts(): Promise<Record<string, number>> {
    const handlers = await this.redis.smembers(`${this.prefix}dlq-handlers`);
    const out: Record<string, number> = {};
    if (handlers.length === 0) return out;
    const cutoff = Date.now() - this.limits.ttlMs;
    const pipe = this.redis.pipeline();
    for (const h of handlers) pipe.zcount(this.keys(h)[1], cutoff, '+inf');
    const res = (await pipe.exec()) ?? [];
    handlers.forEach((h, i) => (out[h] = Number(res[i]?.[1] ?? 0)));
    return out;
  }
}
