import { strict as assert } from 'node:assert';
import { deliver } from '../../../src/queue/deliver';
import { SelfMetrics } from '../../../src/metrics/self-metrics';
import { PermanentError } from '../../../src/sdk/adapter';
import type { AdapterFactory, InstanceValue } from '../../../src/sdk/adapter';
import { handlerDoc, ruleDoc, snapshotOf } from '../../support/snapshot';

/** A report adapter whose params say how it answers. */
const sink: AdapterFactory<{ mode: string }> & { received: InstanceValue[][] } = {
  name: 'sink',
  templates: ['metric'],
  configSchema: { type: 'object' },
  received: [],
  create: (cfg) => ({
    report: (instances) => {
      sink.received.push([...instances]);
      if (cfg.mode === 'hang') return new Promise<void>(() => undefined);
      if (cfg.mode === 'own-timeout') return Promise.reject(new Error('POST to the backend timed out after 5 ms'));
      if (cfg.mode === 'permanent') throw new PermanentError('bad data');
      if (cfg.mode === 'fail') throw new Error('backend down');
      return undefined;
    },
  }),
};

async function dispatchCount(metrics: SelfMetrics, result: string): Promise<number> {
  const m = await metrics.dispatch.get();
  return m.values.find((v) => v.labels.handler === 'default/h' && v.labels.result === result)?.value ?? 0;
}

async function setup(mode: string) {
  const metrics = new SelfMetrics({ processMetrics: false });
  const snapshot = await snapshotOf(handlerDoc('h', 'sink', { mode }) + ruleDoc('r', 'h', 'requests'), [sink], { metrics });
  return { metrics, snapshot };
}

describe('queue/deliver', () => {
  beforeEach(() => (sink.received.length = 0));

  it('delivers the instances of every bag and counts it ok', async () => {
    const { metrics, snapshot } = await setup('ok');
    const r = await deliver(snapshot, 'default/h', [{ 'response.code': 503 }, {}], { jobId: 'j1', attempt: 1 }, 1000);
    assert.deepEqual(r, { ok: true, instances: 2 });
    assert.deepEqual(
      sink.received[0].map((i) => i.fields.dimensions),
      [{ code: 503 }, { code: 200 }],
    );
    assert.equal(await dispatchCount(metrics, 'ok'), 1);
  });

  it('a handler that hangs past the timeout is a retryable timeout, counted as one', async () => {
    const { metrics, snapshot } = await setup('hang');
    const r = await deliver(snapshot, 'default/h', [{}], { jobId: 'j2', attempt: 1 }, 20);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && !r.permanent && /timed out after 20 ms/.test(r.error.message));
    assert.equal(await dispatchCount(metrics, 'timeout'), 1);
    assert.equal(await dispatchCount(metrics, 'error'), 0);
  });

  it("an adapter's own error that mentions a timeout is an error, not Mixer's timeout (typed, not matched by text)", async () => {
    const { metrics, snapshot } = await setup('own-timeout');
    const r = await deliver(snapshot, 'default/h', [{}], { jobId: 'j3', attempt: 1 }, 1000);
    assert.ok(!r.ok && !r.permanent);
    assert.equal(await dispatchCount(metrics, 'error'), 1);
    assert.equal(await dispatchCount(metrics, 'timeout'), 0);
  });

  it('a PermanentError is permanent (no retry); a plain error is retryable', async () => {
    const permanent = await setup('permanent');
    const p = await deliver(permanent.snapshot, 'default/h', [{}], { jobId: 'j4', attempt: 1 }, 1000);
    assert.ok(!p.ok && p.permanent);
    const failing = await setup('fail');
    const f = await deliver(failing.snapshot, 'default/h', [{}], { jobId: 'j5', attempt: 1 }, 1000);
    assert.ok(!f.ok && !f.permanent && f.error.message === 'backend down');
  });

  it('a handler that left the config is a permanent failure naming it and the generation', async () => {
    const { snapshot } = await setup('ok');
    const r = await deliver(snapshot, 'default/gone', [{}], { jobId: 'j6', attempt: 1 }, 1000);
    assert.ok(!r.ok && r.permanent && /default\/gone is not in the live config \(generation 1\)/.test(r.error.message));
  });
});
