import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { connectRedis, describeRedis, duplicateConnection, redisSpecFromEnv, specOf } from '../../../src/base/redis-connect';
import { SLOTS, slotOf, spreadTags } from '../../../src/base/hash-tags';
import { onlineReplicas } from '../../../src/base/redis-replicas';

describe('base/redis-connect: Redis settings', () => {
  it('no Redis variable: no Redis (the embedded queue)', () => {
    assert.equal(redisSpecFromEnv({}), undefined);
  });

  it('REDIS_URL is one server; a --redis-url flag stands for it', () => {
    assert.deepEqual(redisSpecFromEnv({ REDIS_URL: 'redis://r:6379/2' })?.target, { mode: 'server', url: 'redis://r:6379/2' });
    assert.deepEqual(redisSpecFromEnv({}, 'redis://flag:1')?.target, { mode: 'server', url: 'redis://flag:1' });
  });

  it('MIXER_REDIS_CLUSTER lists seed nodes (IPv6 in brackets); MIXER_REDIS_SENTINELS with a name', () => {
    assert.deepEqual(redisSpecFromEnv({ MIXER_REDIS_CLUSTER: 'a:7000, b:7001,[::1]:7002' })?.target, {
      mode: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: '::1', port: 7002 },
      ],
    });
    assert.deepEqual(redisSpecFromEnv({ MIXER_REDIS_SENTINELS: 's1:26379,s2:26379', MIXER_REDIS_SENTINEL_NAME: 'mixer' })?.target, {
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'mixer',
    });
    assert.equal((redisSpecFromEnv({ MIXER_REDIS_SENTINELS: 's1:26379' })?.target as { name: string }).name, 'mymaster');
  });

  it('refuses two modes at once, and malformed values, naming the variable', () => {
    assert.throws(() => redisSpecFromEnv({ REDIS_URL: 'redis://a:1', MIXER_REDIS_CLUSTER: 'b:2' }), /set one of REDIS_URL, MIXER_REDIS_CLUSTER/);
    assert.throws(() => redisSpecFromEnv({ MIXER_REDIS_CLUSTER: 'a:7000,b' }), /MIXER_REDIS_CLUSTER: "b" is not host:port/);
    assert.throws(() => redisSpecFromEnv({ MIXER_REDIS_SENTINELS: 'a:99999' }), /MIXER_REDIS_SENTINELS: "a:99999" is not host:port/);
    assert.throws(() => redisSpecFromEnv({ MIXER_REDIS_CLUSTER: ' , ' }), /MIXER_REDIS_CLUSTER names no host:port/);
    assert.throws(
      () => redisSpecFromEnv({ REDIS_URL: 'http://user:secret@a' }),
      (e: Error) => /REDIS_URL must start with redis:\/\//.test(e.message) && !e.message.includes('secret'),
    );
    assert.throws(() => redisSpecFromEnv({ REDIS_URL: 'redis://a:1', MIXER_REDIS_TLS: 'yes' }), /MIXER_REDIS_TLS must be on or off/);
    assert.throws(
      () => redisSpecFromEnv({ REDIS_URL: 'redis://a:1', MIXER_REDIS_TLS: 'on', MIXER_REDIS_TLS_CA: '/nonexistent/ca.pem' }),
      /MIXER_REDIS_TLS_CA: cannot read/,
    );
  });

  it('password, Sentinel password and TLS (with a CA file) apply to every mode; descriptions hide passwords', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-redis-ca-'));
    writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
    const spec = redisSpecFromEnv({
      MIXER_REDIS_CLUSTER: 'a:1',
      MIXER_REDIS_USERNAME: 'mixer',
      MIXER_REDIS_PASSWORD: 'pw',
      MIXER_REDIS_SENTINEL_PASSWORD: 'spw',
      MIXER_REDIS_TLS: 'on',
      MIXER_REDIS_TLS_CA: path.join(dir, 'ca.pem'),
    })!;
    assert.deepEqual(
      { ...spec, target: undefined },
      { target: undefined, username: 'mixer', password: 'pw', sentinelPassword: 'spw', tls: { ca: 'PEM', servername: undefined } },
    );
    assert.equal(redisSpecFromEnv({ REDIS_URL: 'rediss://a:1' })?.tls?.ca, undefined, 'rediss:// turns TLS on');
    assert.ok(redisSpecFromEnv({ REDIS_URL: 'rediss://a:1' })?.tls);
    assert.equal(describeRedis(redisSpecFromEnv({ REDIS_URL: 'redis://u:secret@h:1' })!), 'redis://***@h:1');
    assert.equal(describeRedis(spec), 'cluster a:1');
    assert.equal(describeRedis(redisSpecFromEnv({ MIXER_REDIS_SENTINELS: 's:2', MIXER_REDIS_SENTINEL_NAME: 'm' })!), 'sentinel m@s:2');
  });

  it('makes the right client per mode, remembers its spec, and duplicates a connection from it', () => {
    const lazy = { lazyConnect: true };
    const server = connectRedis({ target: { mode: 'server', url: 'redis://127.0.0.1:1' } }, 'lazy');
    const cluster = connectRedis({ target: { mode: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }] }, password: 'pw' }, 'lazy');
    const sentinel = connectRedis({ target: { mode: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'm' } }, 'lazy', lazy);
    try {
      assert.ok(server instanceof Redis && !(server instanceof Cluster));
      assert.ok(cluster instanceof Cluster);
      assert.equal(cluster.options.redisOptions?.password, 'pw');
      assert.ok(sentinel instanceof Redis);
      assert.equal(sentinel.options.name, 'm');
      assert.equal(sentinel.options.role, 'master');
      assert.equal(specOf(cluster)?.target.mode, 'cluster');
      const sub = duplicateConnection(server, 'lazy');
      assert.equal(specOf(sub), specOf(server));
      sub.disconnect();
    } finally {
      for (const c of [server, cluster, sentinel]) c.disconnect();
    }
  });
});

describe('base/hash-tags', () => {
  it('spreads n tags one per n-th of the slot range, deterministically', () => {
    for (const n of [1, 3, 4, 6, 16]) {
      const tags = spreadTags('q', n);
      assert.equal(new Set(tags).size, n);
      tags.forEach((t, i) => {
        const slot = slotOf(`{${t}}:anything`);
        assert.ok(slot >= Math.floor((i * SLOTS) / n) && slot < Math.floor(((i + 1) * SLOTS) / n), `${t} → slot ${slot}`);
      });
      assert.deepEqual(spreadTags('q', n), tags);
    }
  });

  it('with 6 tags and the usual 3 even slot ranges, each primary gets two', () => {
    const owner = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
    const perPrimary = [0, 0, 0];
    for (const t of spreadTags('q', 6)) perPrimary[owner(slotOf(`{${t}}`))]++;
    assert.deepEqual(perPrimary, [2, 2, 2]);
  });
});

describe('base/redis-replicas: reading INFO replication', () => {
  it('counts the replicas whose state is online', () => {
    const info = [
      '# Replication',
      'role:master',
      'connected_slaves:3',
      'slave0:ip=127.0.0.1,port=7001,state=online,offset=100,lag=0',
      'slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0',
      'slave2:ip=127.0.0.1,port=7003,state=online,offset=100,lag=1',
      '',
    ].join('\r\n');
    assert.equal(onlineReplicas(info), 2);
    assert.equal(onlineReplicas('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n'), 0);
  });
});
