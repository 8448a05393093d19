import { CLAIM_JOB_LUA } from '../../src/sdk';
import type { RedisConnection } from '../../src/sdk';

/**
 * APPLY. KEYS[1] the ids of the jobs applied to this metric (shard), see `CLAIM_JOB_LUA`; KEYS[2] overflow hash, then for the i-th metric of the batch
 * KEYS[3i] its values hash, KEYS[3i+1] its last-seen sorted set and KEYS[3i+2] the bytes its
 * series cost (see `seriesCost`). ARGV[1] marker TTL (s), ARGV[2] expiry (ms, 0 = never),
 * ARGV[3] max series per metric, ARGV[4] the batch as JSON:
 * [[metric, [[seriesKey, n, [[field, incr]...], [[field, value]...]]...], budgetBytes, samplesPerSeries, sampleOverhead]...]
 * (numbers as text, so no precision is lost in Lua); ARGV[5] the job id.
 * A new series is refused (its instances added to the overflow hash) when the metric already has
 * max series or its cost would take the metric over its byte budget.
 * Returns 0, changing nothing, when the job was applied already; else applies everything and returns 1.
 * The batch is decoded and the job claimed before any other write, so a failure there (bad JSON,
 * OOM, a key of the wrong type) leaves no trace; nothing after it can fail on valid input.
 */
const APPLY_LUA = `${CLAIM_JOB_LUA}
local expiry = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local batch = cjson.decode(ARGV[4])
local now = claimJob(KEYS[1], ARGV[5], tonumber(ARGV[1]) * 1000)
if not now then return 0 end
for i, m in ipairs(batch) do
  local vals = KEYS[3 * i]
  local seen = KEYS[3 * i + 1]
  local cost = KEYS[3 * i + 2]
  local budget = tonumber(m[3])
  local samples = tonumber(m[4])
  local overhead = tonumber(m[5])
  local card = redis.call('ZCARD', seen)
  local used = tonumber(redis.call('GET', cost) or '0')
  local grew = false
  for _, s in ipairs(m[2]) do
    local key = s[1]
    local known = redis.call('ZSCORE', seen, key)
    local c = 0
    if not known then c = samples * (overhead + #key) end
    if (not known) and (card >= max or used + c > budget) then
      redis.call('HINCRBY', KEYS[2], m[1], s[2])
    else
      if not known then
        card = card + 1
        used = used + c
        grew = true
      end
      redis.call('ZADD', seen, now, key)
      for _, f in ipairs(s[3]) do redis.call('HINCRBYFLOAT', vals, f[1] .. ':' .. key, f[2]) end
      for _, f in ipairs(s[4]) do redis.call('HSET', vals, f[1] .. ':' .. key, f[2]) end
    end
  end
  if grew then redis.call('SET', cost, string.format('%.0f', used)) end
  if expiry > 0 then
    redis.call('PEXPIRE', vals, expiry)
    redis.call('PEXPIRE', seen, expiry)
    redis.call('PEXPIRE', cost, expiry)
  end
end
if expiry > 0 then redis.call('PEXPIRE', KEYS[2], expiry) end
return 1
`;

/**
 * SWEEP. KEYS[1] values hash, KEYS[2] last-seen sorted set, KEYS[3] the series' cost in bytes.
 * ARGV[1] expiry (ms), ARGV[2] most series to remove in this call, ARGV[3] samples per series,
 * ARGV[4] bytes per sample besides the key, ARGV[5..] the field names a series may hold.
 * Removes series whose last update (Redis server time) is older than the expiry, and gives their
 * cost back to the metric's byte budget; returns how many.
 */
const SWEEP_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = string.format('(%.0f', now - tonumber(ARGV[1]))
local samples = tonumber(ARGV[3])
local overhead = tonumber(ARGV[4])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
local freed = 0
for _, key in ipairs(old) do
  redis.call('ZREM', KEYS[2], key)
  freed = freed + samples * (overhead + #key)
  local fields = {}
  for j = 5, #ARGV do fields[#fields + 1] = ARGV[j] .. ':' .. key end
  redis.call('HDEL', KEYS[1], unpack(fields))
end
if #old > 0 then
  if redis.call('ZCARD', KEYS[2]) == 0 then
    redis.call('DEL', KEYS[3])
  else
    local left = tonumber(redis.call('GET', KEYS[3]) or '0') - freed
    if left < 0 then left = 0 end
    redis.call('SET', KEYS[3], string.format('%.0f', left), 'KEEPTTL')
  end
end
return #old
`;

/** The adapter's scripts, bound to one connection. */
export interface PrometheusScripts {
  /** Runs APPLY; resolves to 1 (applied) or 0 (job already applied). */
  apply(keys: readonly string[], args: readonly string[]): Promise<number>;
  /** Runs SWEEP; resolves to how many series it removed. */
  sweep(values: string, seen: string, cost: string, args: readonly string[]): Promise<number>;
}

// Names carry a version: a process of an earlier release defines the older scripts under the old names.
const APPLY = 'mixerPrometheusApply3';
const SWEEP = 'mixerPrometheusSweep2';

type Command = (...args: Array<string | number>) => Promise<number>;

/** Defines the scripts on `redis` (EVALSHA with EVAL fallback, via ioredis `defineCommand`). */
export function definePrometheusScripts(redis: RedisConnection): PrometheusScripts {
  redis.defineCommand(APPLY, { lua: APPLY_LUA });
  redis.defineCommand(SWEEP, { numberOfKeys: 3, lua: SWEEP_LUA });
  const commands = redis as unknown as Record<string, Command>;
  return {
    apply: (keys, args) => commands[APPLY].call(redis, keys.length, ...keys, ...args),
    sweep: (values, seen, cost, args) => commands[SWEEP].call(redis, values, seen, cost, ...args),
  };
}
