/** Default most job ids a {@link JobMarkers} remembers; past it the oldest are forgotten first. */
export const MAX_JOB_MARKERS = 100_000;

/**
 * "Apply once per job" in one process's memory. A report job can be delivered more than once
 * (a retry after a lost acknowledgement, a worker killed mid-job): a handler that keeps counts
 * claims the job's id before applying it, and skips the job when the claim fails.
 *
 * A marker lives `ttlMs` after its claim; at most `max` are kept (oldest forgotten first), so the
 * memory is bounded whatever the traffic. Stores that keep their state in Redis set their marker in
 * the same atomic step as their writes instead (see the prometheus and graph adapters).
 */
export class JobMarkers {
  /** job id → expiry (epoch ms); insertion order is claim order. */
  private readonly markers = new Map<string, number>();

  constructor(
    readonly ttlMs: number,
    private readonly max = MAX_JOB_MARKERS,
  ) {}

  /** True the first time `jobId` is claimed within `ttlMs`; false for a redelivery. */
  claim(jobId: string, now = Date.now()): boolean {
    this.sweep(now);
    const expiry = this.markers.get(jobId);
    if (expiry !== undefined && expiry > now) return false;
    this.markers.delete(jobId);
    this.markers.set(jobId, now + this.ttlMs);
    while (this.markers.size > this.max) this.markers.delete(this.markers.keys().next().value as string);
    return true;
  }

  /** Forgets expired markers (claims do this too). */
  sweep(now = Date.now()): void {
    for (const [id, expiry] of this.markers) {
      if (expiry > now) break;
      this.markers.delete(id);
    }
  }

  /** Markers held (for tests of the bound). */
  get size(): number {
    return this.markers.size;
  }
}

/**
 * "Apply once per job" for state kept in Redis: Lua that defines `claimJob(set, id, ttlMs)`, to put at
 * the top of the script that applies a job, so the claim and the writes are one atomic step. The ids
 * of applied jobs are kept in one sorted set per hash tag (`set`, a key in the slot of the state it
 * guards), scored by when they were applied (Redis server time, ms). `claimJob` returns false when
 * `id` is in the set (a redelivery: apply nothing); else it adds `id`, drops ids older than `ttlMs`,
 * and returns the Redis server time it used (ms), for the script's own timestamps. The set itself
 * expires when no job has been claimed in it for `ttlMs` or more.
 *
 * Call it before the script's first write: on a key of the wrong type it raises an error, and Redis
 * does not undo the writes a failed script has made. One set per tag, rather than a key per job,
 * keeps the number of keys independent of the traffic, and an id leaves the set in the script that
 * adds another instead of by key expiry (which Redis would also send its replicas as a `DEL` per key).
 */
export const CLAIM_JOB_LUA = `
local function claimJob(set, id, ttl)
  if redis.call('ZSCORE', set, id) then return false end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', string.format('(%.0f', now - ttl))
  redis.call('ZADD', set, now, id)
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, 2 * ttl) end
  return now
end
`;
