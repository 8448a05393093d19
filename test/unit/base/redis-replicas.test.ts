import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { connectRedis } from '../../../src/base/redis-connect';
import type { RedisConnection } from '../../../src/base/redis-connect';
import { ReplicaWaiter } from '../../../src/base/redis-replicas';
import { TestRedis } from '../../support/redis-server';
import { freePort } from '../../support/processes';
import { waitFor } from '../../support/wait';

describe('base/redis-replicas: WAIT for the replicas actually connected @redis', function () {
  this.timeout(30_000);
  const primary = new TestRedis();
  let replica: ChildProcess | undefined;
  let conn: RedisConnection;
  let waiter: ReplicaWaiter | undefined;
  const unreplicated: Array<[number, number]> = [];

  before(async () => {
    await primary.start();
    conn = connectRedis({ target: { mode: 'server', url: primary.url } }, 'command');
    await new Promise((resolve) => conn.once('ready', resolve));
  });
  after(async () => {
    waiter?.close();
    conn.disconnect();
    if (replica && replica.exitCode === null && replica.signalCode === null) {
      const exited = new Promise((r) => replica!.once('exit', r));
      replica.kill('SIGKILL');
      await exited;
    }
    await primary.cleanup();
  });

  it('a primary without replicas: settles at once, nothing counted', async () => {
    waiter = new ReplicaWaiter(conn, { onUnreplicated: (e, a) => unreplicated.push([e, a]), refreshMs: 100 });
    await conn.set('k', '1');
    await waiter.settle('k');
    assert.deepEqual(unreplicated, []);
  });

  it('with a replica connected, WAIT returns once it has the write; when the replica is gone, writes are counted unreplicated', async () => {
    const port = await freePort();
    replica = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(primary.port)],
      {
        stdio: 'ignore',
      },
    );
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    try {
      await waitFor(
        'the primary to see its replica online',
        async () => {
          await waiter!.refresh();
          return (await conn.info('replication')).includes('state=online');
        },
        15_000,
        100,
      );
      await waiter!.refresh();
      await conn.set('k', '2');
      await waiter!.settle('k');
      await probe.connect();
      assert.equal(await probe.get('k'), '2', 'the replica has the write when settle resolves');
      assert.deepEqual(unreplicated, []);
    } finally {
      probe.disconnect();
    }
    const exited = new Promise((r) => replica!.once('exit', r));
    replica.kill('SIGKILL');
    await exited;
    await waitFor('the primary to lose its replica', async () => !(await conn.info('replication')).includes('state=online'), 15_000, 100);
    await waiter!.refresh();
    await conn.set('k', '3');
    await waiter!.settle('k');
    assert.deepEqual(unreplicated, [[1, 0]], 'one write acknowledged by 0 of the 1 replica seen before');
  });
});
