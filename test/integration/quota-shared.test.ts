import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { forEachRedisMode } from '../support/redis-topology';

const QUOTA = `apiVersion: mixer/v1
kind: Handler
metadata: {name: shared-quota}
spec:
  adapter: redisquota
  params:
    quotas:
      - name: requestcount
        maxAmount: 10
        validDuration: 1s
        bucketDuration: 100ms
        rateLimitAlgorithm: ROLLING_WINDOW
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: requestcount}
spec:
  template: quota
  params:
    dimensions:
      source: source.labels["app"] | "unknown"
      destination: destination.service.name | "unknown"
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: quota-frontend-backend}
spec:
  match:
    all:
      - {fact: source.labels, path: $.app, operator: equal, value: frontend}
      - {fact: destination.service.name, operator: equal, value: backend}
  actions:
    - {handler: shared-quota, instances: [requestcount]}
`;

forEachRedisMode((mode) => {
  describe('redisquota shared by two Mixer processes on one Redis @redis', function () {
    this.timeout(40_000);
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    let cfg: TempConfigDir;
    let a: MixerProcess;
    let b: MixerProcess;

    before(async () => {
      cfg = new TempConfigDir();
      cfg.write('quota.yaml', QUOTA);
      const env = { ...mode.env, MIXER_CONFIG_DIR: cfg.dir, MIXER_KEY_PREFIX: prefix };
      [a, b] = await Promise.all([startMixer(env), startMixer(env)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await mode.deleteKeys(prefix);
      cfg?.cleanup();
    });

    it('grants 10 checks a second for frontend→backend across both processes and denies the 11th', async () => {
      const body = { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend' } };
      const codes: number[] = [];
      for (let i = 0; i < 11; i++) {
        const target = i % 2 === 0 ? a : b;
        const r = await postJson(`${target.url}/v1/check`, body);
        assert.equal(r.status, 200);
        codes.push(r.body.status.code);
        if (i < 10) assert.equal(r.body.quotas.requestcount.grantedAmount, 1);
      }
      assert.deepEqual(codes.slice(0, 10), Array(10).fill(0));
      assert.equal(codes[10], 8, 'the 11th check within the second is RESOURCE_EXHAUSTED');

      const other = await postJson(`${a.url}/v1/check`, { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'other' } });
      assert.equal(other.body.status.code, 0, 'other destinations are not limited');
      assert.equal(other.body.quotas, undefined);

      const keys = await mode.keys(`${prefix}*`);
      assert.ok(keys.length > 0, 'the quota state lives in Redis under the test prefix');
    });
  });
});
