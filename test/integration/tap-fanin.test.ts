import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { deleteKeys } from '../support/redis-keys';
import { SseStream } from '../support/sse';
import { waitFor } from '../support/wait';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'fanin-token';

describe('live tap across replicas: two Mixers on one Redis, one tap (real processes)', function () {
  this.timeout(60_000);
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  let cfg: TempConfigDir;
  let a: MixerProcess;
  let b: MixerProcess;
  let s: SseStream | undefined;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });

  before(async () => {
    cfg = new TempConfigDir();
    const env = { MIXER_CONFIG_DIR: cfg.dir, REDIS_URL, MIXER_KEY_PREFIX: prefix, MIXER_ADMIN_TOKEN: TOKEN };
    [a, b] = await Promise.all([startMixer(env), startMixer(env)]);
    await redis.connect();
  });
  after(async () => {
    await s?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await deleteKeys(redis, prefix);
    redis.disconnect();
    cfg?.cleanup();
  });

  const check = (m: MixerProcess, path: string) =>
    postJson(`${m.url}/v1/check`, { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend', 'request.path': path } });

  it('a tap opened on one replica sees the checks handled by both, each naming its replica', async () => {
    s = await SseStream.open(`${a.url}/v1/tap?destination=backend`, { authorization: `Bearer ${TOKEN}` });
    assert.equal(s.status, 200);
    const [open] = await s.waitFor('open', 1);
    // Replica b learns of the tap through Redis (a notice, then a poll every 2 s): wait until its traffic shows.
    await waitFor(
      'replica b to feed the tap',
      async () => {
        await check(b, '/probe');
        return s!.of('check').some((e) => e.json.replica !== open.json.replica);
      },
      10_000,
      100,
    );
    for (let i = 0; i < 5; i++) {
      await check(a, `/a/${i}`);
      await check(b, `/b/${i}`);
    }
    const want = [...Array.from({ length: 5 }, (_, i) => `/a/${i}`), ...Array.from({ length: 5 }, (_, i) => `/b/${i}`)];
    const seen = () => new Set(s!.of('check').map((e) => e.json.attributes['request.path'] as string));
    await waitFor('all ten checks in the tap', () => want.every((p) => seen().has(p)), 5000);
    const replicaOf = (p: string) => s!.of('check').find((e) => e.json.attributes['request.path'] === p)!.json.replica;
    assert.equal(replicaOf('/a/0'), open.json.replica);
    assert.notEqual(replicaOf('/b/0'), open.json.replica);
    assert.equal(new Set(want.map(replicaOf)).size, 2);
    // Each check appears once, not once per path it could take.
    assert.equal(s.of('check').filter((e) => e.json.attributes['request.path'] === '/b/3').length, 1);

    // Closing the tap removes its registration, so b stops publishing.
    await s.close();
    s = undefined;
    await waitFor('the registration to go', async () => (await redis.hlen(`${prefix}tap:sessions`)) === 0, 5000);
  });
});
