import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { startMixer } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { TestRedis } from '../support/redis-server';
import { waitFor } from '../support/wait';

interface Version {
  generation: number;
  epoch: string;
  lastReload: { ok: boolean; reason: string } | null;
}

const version = async (m: MixerProcess): Promise<Version> => (await (await fetch(`${m.url}/v1/config/status`)).json()) as Version;

describe('config generations while Redis is away (real processes, a test-owned Redis)', function () {
  this.timeout(60_000);
  const redis = new TestRedis();
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  let cfg: TempConfigDir;
  let a: MixerProcess;
  let b: MixerProcess | undefined;

  before(async () => {
    await redis.start();
    cfg = new TempConfigDir();
    a = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: redis.url, MIXER_KEY_PREFIX: prefix });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis.stop();
    await redis.cleanup();
    cfg?.cleanup();
  });

  it('a change made while Redis is down is served at once in an epoch of its own, then renumbered as the other replicas see it', async () => {
    const before = await version(a);
    await redis.stop();
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    const alone = await waitFor(
      'the change to load without Redis',
      async () => {
        const v = await version(a);
        return v.lastReload?.ok && v.epoch !== before.epoch ? v : undefined;
      },
      15_000,
      50,
    );
    assert.ok(alone.generation > 0);

    await redis.start();
    const shared = await waitFor(
      'the config to take the shared number again',
      async () => {
        const v = await version(a);
        return v.epoch === before.epoch ? v : undefined;
      },
      20_000,
      100,
    );
    assert.ok(shared.generation > before.generation, 'newer than the config before the change');
    assert.match(shared.lastReload!.reason, /Redis is back/);

    // A replica starting now, on the same files, answers the very same version.
    b = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: redis.url, MIXER_KEY_PREFIX: prefix });
    const vb = await version(b);
    assert.deepEqual({ generation: vb.generation, epoch: vb.epoch }, { generation: shared.generation, epoch: shared.epoch });
  });
});
