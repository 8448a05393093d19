import type { RedisConnection } from '../../src/sdk';

/**
 * FIXED_WINDOW. KEYS[1] counter. ARGV: maxAmount, amount, windowMs, bestEffort (1/0).
 * The window starts with the first grant (the key is created with a TTL of windowMs) and ends
 * when the key expires. Returns the amount granted.
 */
const FIXED_WINDOW_LUA = `
local max = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = max - used
if left < 0 then left = 0 end
local grant = 0
if amount <= left then grant = amount elseif ARGV[4] == '1' then grant = left end
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant)
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
return grant
`;

/**
 * ROLLING_WINDOW. KEYS[1] hash: bucket index → amount granted in that bucket.
 * ARGV: maxAmount, amount, windowMs, bucketMs, bestEffort (1/0), nowMs ('' = Redis server time).
 * Counts the ceil(windowMs / bucketMs) buckets ending with the current one, deletes older ones,
 * grants, and sets the hash's TTL to windowMs + bucketMs. Returns the amount granted.
 */
const ROLLING_WINDOW_LUA = `
local max = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local bucketMs = tonumber(ARGV[4])
local now
if ARGV[6] ~= '' then
  now = tonumber(ARGV[6])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cur = math.floor(now / bucketMs)
local oldest = cur - math.ceil(windowMs / bucketMs) + 1
local all = redis.call('HGETALL', KEYS[1])
local used = 0
for i = 1, #all, 2 do
  if tonumber(all[i]) < oldest then
    redis.call('HDEL', KEYS[1], all[i])
  else
    used = used + tonumber(all[i + 1])
  end
end
local left = max - used
if left < 0 then left = 0 end
local grant = 0
if amount <= left then grant = amount elseif ARGV[5] == '1' then grant = left end
if grant > 0 then
  redis.call('HINCRBY', KEYS[1], string.format('%.0f', cur), grant)
end
if grant > 0 or #all > 0 then
  redis.call('PEXPIRE', KEYS[1], windowMs + bucketMs)
end
return grant
`;

/** Runs one atomic allocation; resolves to the amount granted. */
export type AllocateCommand = (key: string, ...args: string[]) => Promise<number>;

/** The allocation scripts bound to one connection. */
export interface QuotaScripts {
  fixedWindow: AllocateCommand;
  rollingWindow: AllocateCommand;
}

const FIXED = 'mixerRedisQuotaFixedWindow';
const ROLLING = 'mixerRedisQuotaRollingWindow';

/** Defines the allocation scripts on `redis` (EVALSHA with EVAL fallback, via ioredis `defineCommand`). */
export function defineQuotaScripts(redis: RedisConnection): QuotaScripts {
  redis.defineCommand(FIXED, { numberOfKeys: 1, lua: FIXED_WINDOW_LUA });
  redis.defineCommand(ROLLING, { numberOfKeys: 1, lua: ROLLING_WINDOW_LUA });
  const commands = redis as unknown as Record<string, AllocateCommand>;
  return {
    fixedWindow: (key, ...args) => commands[FIXED].call(redis, key, ...args),
    rollingWindow: (key, ...args) => commands[ROLLING].call(redis, key, ...args),
  };
}
