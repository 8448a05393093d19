/**
 * Graph counts in Redis, shared by every Mixer replica whose graph handler has the same name.
 *
 * The state is split into {@link GRAPH_SHARDS} shards, each under its own hash tag `{graph:<tag>}`
 * (tags spread over the slot range, so shards spread over a cluster's primaries). A job goes to the
 * shard its id hashes to, so a redelivery meets its own marker there, whatever time it runs at (a
 * bag without a time is counted at processing time, so a marker kept per time bucket would miss a
 * redelivery that lands in a later bucket). Reads merge the shards of each bucket.
 * Layout, per shard:
 * - `<prefix>{graph:<tag>}:b:<resolution>:<index>`: hash, edge id → stats JSON (see `stats.ts`) of one
 *   time bucket; `<resolution>` is `10s` or `1m`, `<index>` is `floor(epochMs / bucketMs)`. Expires
 *   one bucket after the last window that reads it (about 5 min for 10 s buckets, 1 h for 1 min).
 * - `<prefix>{graph:<tag>}:b:<resolution>:<index>:bytes`: bytes of edge state the shard's bucket holds
 *   (edge ids plus their stats JSON as first written), held against `maxBucketBytes`; expires with the bucket.
 * - `<prefix>{graph:<tag>}:jobs`: sorted set of the ids of the jobs applied to the shard, each kept 2 h
 *   (see `CLAIM_JOB_LUA`).
 * And one key per request id, spread by the key itself (no tag):
 * - `<prefix>graph:req:<request id>|<service>`: the job that counted a call (both sides may report it), expires after 10 min.
 */
import { createHash } from 'node:crypto';
import { CLAIM_JOB_LUA, spreadTags } from '../../src/sdk';
import type { RedisConnection } from '../../src/sdk';
import { mergeOlderStats } from './stats';
import type { EdgeStats } from './stats';
import type { GraphDelta } from './aggregate';
import { JOB_MARKER_TTL_MS, REQUEST_CLAIM_TTL_MS } from './store';
import type { ApplyOutcome, GraphStore } from './store';
import type { WindowRange } from './windows';

/**
 * KEYS[1]: the shard's applied job ids (`CLAIM_JOB_LUA`); then per bucket two keys: its hash and
 * its byte count. ARGV[1]: how long a job id is kept, ms; ARGV[2]: most edges per bucket; ARGV[3]:
 * most bytes per bucket; ARGV[4]: the job id; then for each bucket in KEYS order: TTL ms, field
 * count n, and n × (edge id, stats JSON). Returns -1 when the job was applied already (nothing
 * applied now), else the number of edges dropped (bucket full by count or bytes).
 * Everything that can fail (a key of the wrong type) is checked before the first write, because
 * Redis does not undo the writes of a script that fails: the job is applied whole or not at all
 * (`claimJob`, the first write, fails on its own key before writing).
 * A stored value that is not valid JSON is replaced by the job's increments.
 */
const APPLY_LUA = `${CLAIM_JOB_LUA}
for k = 2, #KEYS, 2 do
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= 'hash' and t ~= 'none' then return redis.error_reply('graph: ' .. KEYS[k] .. ' holds a ' .. t .. ', not a hash') end
  t = redis.call('TYPE', KEYS[k + 1]).ok
  if t ~= 'string' and t ~= 'none' then return redis.error_reply('graph: ' .. KEYS[k + 1] .. ' holds a ' .. t .. ', not a string') end
end
if not claimJob(KEYS[1], ARGV[4], tonumber(ARGV[1])) then return -1 end
local maxEdges = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local function merge(cur, d)
  for k, v in pairs(d) do
    if k == 'h' then
      if cur.h == nil then
        cur.h = v
      else
        for i, cell in pairs(v) do
          local c = cur.h[i]
          if c == nil then cur.h[i] = cell else c[1] = c[1] + cell[1]; c[2] = c[2] + cell[2] end
        end
      end
    elseif type(v) == 'number' then
      cur[k] = (cur[k] or 0) + v
    else
      cur[k] = v
    end
  end
  return cur
end
local a = 5
local dropped = 0
for k = 2, #KEYS, 2 do
  local key = KEYS[k]
  local ttl = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local size = redis.call('HLEN', key)
  local bytes = tonumber(redis.call('GET', KEYS[k + 1]) or '0') or 0
  local grew = false
  for i = 1, n do
    local field, delta = ARGV[a], ARGV[a + 1]
    a = a + 2
    local cur = redis.call('HGET', key, field)
    local ok, old = false, nil
    if cur then ok, old = pcall(cjson.decode, cur) end
    if ok and type(old) == 'table' then
      redis.call('HSET', key, field, cjson.encode(merge(old, cjson.decode(delta))))
    elseif cur then
      redis.call('HSET', key, field, delta)
    elseif size < maxEdges and bytes + #field + #delta <= maxBytes then
      size = size + 1
      bytes = bytes + #field + #delta
      grew = true
      redis.call('HSET', key, field, delta)
    else
      dropped = dropped + 1
    end
  end
  if grew then redis.call('SET', KEYS[k + 1], bytes) end
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', KEYS[k + 1], ttl)
end
return dropped
`;

/**
 * KEYS[1]: the claim key of one request id; ARGV[1]: job id, ARGV[2]: claim TTL ms. Returns 1 when
 * the job owns the id (claimed now, or by this same job before), else 0. One key per call: request
 * ids hash to slots all over a cluster.
 */
const CLAIM_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`;

/** Shards of the graph state (hash tags); a job's increments go to one of them. */
export const GRAPH_SHARDS = 4;

/** The shard a job's increments (and its marker) go to: a hash of its id, the same on every redelivery. */
export function shardOf(jobId: string): number {
  return createHash('sha1').update(jobId).digest().readUInt32BE(0) % GRAPH_SHARDS;
}

// The name carries a version: a process of an earlier release defines the older script under the old name.
const APPLY_COMMAND = 'mixerGraphApply3';
const CLAIM_COMMAND = 'mixerGraphClaim1';

type ApplyCommand = (numKeys: number, ...args: string[]) => Promise<number>;

/** Graph buckets in Redis; each job is one Lua script (one round trip), applied at most once. */
export class RedisGraphStore implements GraphStore {
  private readonly bases: string[];
  private readonly claimBase: string;
  private readonly command: ApplyCommand;

  /** `keyPrefix` is the handler's `env.keyPrefix`; handlers with the same prefix share one graph. */
  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly maxEdges: number,
    private readonly maxBucketBytes = Number.MAX_SAFE_INTEGER,
    private readonly awaitReplicas: (...keys: string[]) => Promise<void> = () => Promise.resolve(),
  ) {
    this.bases = spreadTags('graph:', GRAPH_SHARDS).map((tag) => `${keyPrefix}{${tag}}:`);
    this.claimBase = `${keyPrefix}graph:`;
    redis.defineCommand(APPLY_COMMAND, { lua: APPLY_LUA });
    const commands = redis as unknown as Record<string, ApplyCommand>;
    this.command = (numKeys, ...args) => commands[APPLY_COMMAND].call(redis, numKeys, ...args);
    redis.defineCommand(CLAIM_COMMAND, { numberOfKeys: 1, lua: CLAIM_LUA });
    const claim = commands[CLAIM_COMMAND] as unknown as (key: string, jobId: string, ttl: string) => Promise<number>;
    this.claim = (key, job, ttl) => claim.call(redis, key, job, ttl);
  }

  private readonly claim: (key: string, jobId: string, ttlMs: string) => Promise<number>;

  /** Key of the claim on one request id (long ids are cut: the key stays bounded). */
  claimKey(requestId: string): string {
    return `${this.claimBase}req:${requestId.length > 200 ? requestId.slice(0, 200) : requestId}`;
  }

  async claimRequests(jobId: string, requestIds: readonly string[], _now: number): Promise<Set<string>> {
    const owned = new Set<string>();
    if (requestIds.length === 0) return owned;
    const keys = requestIds.map((id) => this.claimKey(id));
    const flags = await Promise.all(keys.map((k) => this.claim(k, jobId, String(REQUEST_CLAIM_TTL_MS))));
    await this.awaitReplicas(...keys);
    requestIds.forEach((id, i) => {
      if (Number(flags[i]) === 1) owned.add(id);
    });
    return owned;
  }

  /** Key of the hash of one time bucket in shard `shard`. */
  bucketKey(resolution: string, index: number, shard = 0): string {
    return `${this.bases[shard]}b:${resolution}:${index}`;
  }

  /** Key of the sorted set that records the jobs applied to the shard `jobId` goes to. */
  jobsKey(jobId: string): string {
    return `${this.bases[shardOf(jobId)]}jobs`;
  }

  async apply(jobId: string, delta: GraphDelta, _now: number): Promise<ApplyOutcome> {
    const shard = shardOf(jobId);
    const keys = [this.jobsKey(jobId)];
    const args = [String(JOB_MARKER_TTL_MS), String(this.maxEdges), String(this.maxBucketBytes), jobId];
    for (const b of delta.buckets.values()) {
      const bucket = this.bucketKey(b.resolution.name, b.index, shard);
      keys.push(bucket, `${bucket}:bytes`);
      args.push(String(b.ttlMs), String(b.edges.size));
      for (const [edgeId, stats] of b.edges) args.push(edgeId, JSON.stringify(stats));
    }
    const result = Number(await this.command(keys.length, ...keys, ...args));
    // The counts and the job's claim: on the replicas before the job is done.
    await this.awaitReplicas(keys[0]);
    return result < 0 ? { applied: false, droppedEdges: 0 } : { applied: true, droppedEdges: result };
  }

  /**
   * Reads the window's buckets one at a time, newest first (only one bucket's text is held at
   * once); at most `maxEdges` distinct edges are kept, the ones seen first.
   */
  async read(range: WindowRange, _now: number): Promise<Map<string, EdgeStats>> {
    const out = new Map<string, EdgeStats>();
    for (let i = range.last; i >= range.first; i--) {
      for (let shard = 0; shard < this.bases.length; shard++) {
        const hash = await this.redis.hgetall(this.bucketKey(range.resolution.name, i, shard));
        for (const [edgeId, json] of Object.entries(hash)) {
          const cur = out.get(edgeId);
          if (cur) mergeOlderStats(cur, JSON.parse(json) as EdgeStats);
          else if (out.size < this.maxEdges) out.set(edgeId, JSON.parse(json) as EdgeStats);
        }
      }
    }
    return out;
  }
}
