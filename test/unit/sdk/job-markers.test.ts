import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { CLAIM_JOB_LUA, JobMarkers } from '../../../src/sdk';
import { deleteKeys } from '../../support/redis-keys';

describe('JobMarkers (apply once per job, in memory)', () => {
  it('claims a job id once within its lifetime, and again after it', () => {
    const markers = new JobMarkers(1000);
    assert.equal(markers.claim('a', 0), true);
    assert.equal(markers.claim('a', 999), false, 'a redelivery within the lifetime');
    assert.equal(markers.claim('a', 1000), true, 'the marker expired');
  });

  it('keeps at most `max` ids, forgetting the oldest first', () => {
    const markers = new JobMarkers(60_000, 2);
    for (const id of ['a', 'b', 'c']) assert.equal(markers.claim(id, 0), true);
    assert.equal(markers.size, 2);
    assert.equal(markers.claim('c', 1), false);
    assert.equal(markers.claim('a', 1), true, 'the oldest was forgotten');
  });
});

/** A script that claims ARGV[1] in KEYS[1] for ARGV[2] ms and, when it may, counts the job in KEYS[2]. */
const COUNT_ONCE_LUA = `${CLAIM_JOB_LUA}
if not claimJob(KEYS[1], ARGV[1], tonumber(ARGV[2])) then return 0 end
redis.call('INCR', KEYS[2])
return 1
`;

describe('CLAIM_JOB_LUA (apply once per job, in Redis) @redis', () => {
  let redis: Redis;
  let prefix: string;
  let jobs: string;
  let count: string;
  const apply = (id: string, ttlMs: number) => redis.eval(COUNT_ONCE_LUA, 2, jobs, count, id, String(ttlMs)) as Promise<number>;

  before(() => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
  });
  after(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = `mixer-test:${randomUUID()}:`;
    jobs = `${prefix}{t}:jobs`;
    count = `${prefix}{t}:count`;
  });
  afterEach(() => deleteKeys(redis, prefix));

  it('applies a job once, however often it comes, in one key whatever the number of jobs', async () => {
    for (let i = 0; i < 50; i++) assert.equal(await apply(`job-${i}`, 60_000), 1);
    for (let i = 0; i < 50; i++) assert.equal(await apply(`job-${i}`, 60_000), 0, `job-${i} again`);
    assert.equal(await redis.get(count), '50');
    assert.equal(await redis.zcard(jobs), 50);
    assert.deepEqual((await redis.keys(`${prefix}*`)).sort(), [count, jobs]);
  });

  it('forgets ids older than their lifetime when it claims another, and the set outlives its newest id', async () => {
    assert.equal(await apply('old', 300), 1);
    const ttl = await redis.pttl(jobs);
    assert.ok(ttl > 300 && ttl <= 600, `set TTL ${ttl} ms: at least the lifetime, at most twice it`);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(await apply('new', 300), 1);
    assert.deepEqual(await redis.zrange(jobs, 0, -1), ['new'], 'the expired id left the set');
    assert.equal(await apply('old', 300), 1, 'after its lifetime a job id counts again');
    assert.equal(await redis.get(count), '3');
  });

  it('refreshes the set TTL before it falls under one lifetime, so no live id expires with the set', async () => {
    assert.equal(await apply('a', 10_000), 1);
    await redis.pexpire(jobs, 5_000); // as if 15 s had passed since the set's TTL was set
    assert.equal(await apply('b', 10_000), 1);
    const ttl = await redis.pttl(jobs);
    assert.ok(ttl > 10_000 && ttl <= 20_000, `set TTL ${ttl} ms`);
  });

  it('fails before any write when the set key holds another type', async () => {
    await redis.set(jobs, 'not a sorted set');
    await assert.rejects(apply('x', 60_000), /WRONGTYPE/);
    assert.equal(await redis.exists(count), 0);
  });
});
