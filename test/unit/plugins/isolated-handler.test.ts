import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import pino from 'pino';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { IsolatedHandler } from '../../../src/plugins/isolated-handler';
import type { IsolatedHandlerOptions } from '../../../src/plugins/isolated-handler';
import { loadPlugin } from '../../../src/plugins/loader';
import { HandlerRuntime } from '../../../src/runtime/handler-runtime';
import { SelfMetrics } from '../../../src/metrics/self-metrics';
import { denierAdapter } from '../../../adapters/denier';
import { isPermanent } from '../../../src/sdk/adapter';
import type { AdapterFactory, InstanceValue } from '../../../src/sdk/adapter';
import { validateParams } from '../../../src/sdk/params';
import { waitFor } from '../../support/wait';
import { TempPluginsDir, testAdapterSource } from '../../support/plugin-dir';

const entry = (value: string): InstanceValue => ({ name: 'default/v', template: 'listentry', fields: { value } });
const metric = (name: string): InstanceValue => ({ name, template: 'metric', fields: { value: 1 } });
const CTX = { jobId: 'job-1', attempt: 1 };

/** `mixer_adapter_worker_restarts_total` of `handler`, as a scrape shows it (undefined: no series). */
async function restartsCounted(metrics: SelfMetrics, handler: string): Promise<number | undefined> {
  const { values } = await metrics.workerRestarts.get();
  return values.find((v) => v.labels.handler === handler)?.value;
}

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('plugins: isolated handler (isolation: worker)', () => {
  let tmp: TempPluginsDir;
  let factory: AdapterFactory;
  const open: IsolatedHandler[] = [];
  before(() => {
    tmp = new TempPluginsDir();
    tmp.folder('iso', { 'index.js': testAdapterSource('iso') });
    tmp.folder('nocreate', {
      'index.js': "exports.adapter = { name: 'nocreate', templates: ['checknothing'], configSchema: {}, create() { throw new Error('no handler for you'); } };",
    });
    const r = loadPlugin('iso', { pluginsDir: tmp.dir });
    assert.deepEqual(r.errors, []);
    factory = r.factory!;
  });
  after(() => tmp.cleanup());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  async function start(logger: Logger, more: Partial<IsolatedHandlerOptions> = {}): Promise<IsolatedHandler> {
    const config = validateParams(factory, { note: 'from the worker' }, 'params').config;
    const h = await IsolatedHandler.start({
      factory,
      config,
      handlerName: 'default/iso',
      logger,
      callTimeoutMs: 500,
      hangTimeoutMs: 500,
      backoffMs: 50,
      ...more,
    });
    open.push(h);
    return h;
  }

  it('answers checks and reports from another thread, keeps permanent errors permanent, forwards logs and metrics', async () => {
    const { logger, lines } = capturingLogger();
    const iso = await start(logger);
    assert.ok(iso.threadId !== undefined && iso.threadId !== threadId, 'runs in a worker thread');
    assert.equal(iso.handler.routes, undefined, 'isolated handlers serve no routes');
    assert.deepEqual(await iso.handler.check!(entry('fine')), { status: { code: 0, message: 'from the worker' }, validDuration: 1000 });
    await iso.handler.report!([metric('a'), metric('b')], CTX);

    const permanent = await Promise.resolve(iso.handler.report!([metric('bad')], CTX)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isPermanent(permanent), 'a permanent error stays permanent across the thread boundary');
    assert.match((permanent as Error).message, /handler default\/iso \(isolated\): bad data/);
    const retryable = await Promise.resolve(iso.handler.report!([metric('flaky')], CTX)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(retryable instanceof Error && !isPermanent(retryable));
    const thrown = await Promise.resolve(iso.handler.check!(entry('throw'))).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match((thrown as Error).message, /plugin iso refuses throw/);

    const json = await iso.registry.getMetricsAsJSON();
    const family = json.find((m) => m.name === 'test_plugin_instances_total');
    assert.equal(family?.values[0]?.value, 2);
    assert.match(await iso.registry.metrics(), /test_plugin_instances_total\{handler="default\/iso"\} 2/);

    await iso.handler.check!(entry('log me'));
    const line = await waitFor('the forwarded log line', () => lines.find((l) => l.msg === 'plugin iso logs'));
    assert.equal(line.handler, 'default/iso');
    assert.equal(line.value, 'log me');
    assert.equal(line.isolated, true);
  });

  it('a synchronous hang in check is answered as a failure; the hung worker is terminated and restarted', async () => {
    const { logger, lines } = capturingLogger();
    const metrics = new SelfMetrics({ processMetrics: false });
    const iso = await start(logger, { metrics });
    const first = iso.threadId;
    assert.equal(await restartsCounted(metrics, 'default/iso'), 0, 'the restart counter starts at 0');
    await assert.rejects(Promise.resolve(iso.handler.check!(entry('hang'))), /check timed out after 500 ms/);
    await waitFor('the hung worker to be replaced', () => iso.restarts >= 1 && iso.threadId !== undefined && iso.threadId !== first, 20_000);
    assert.equal(await restartsCounted(metrics, 'default/iso'), 1, 'mixer_adapter_worker_restarts_total counts the restart');
    assert.deepEqual(await iso.handler.check!(entry('fine again')), { status: { code: 0, message: 'from the worker' }, validDuration: 1000 });
    assert.ok(
      lines.some((l) => /did not answer a ping/.test(String(l.msg))),
      'the hang is logged',
    );
    assert.ok(
      lines.some((l) => l.msg === 'isolated handler worker restarted'),
      'the restart is logged',
    );
  });

  it('a crashed worker (uncaught exception, process.exit) is restarted; calls in flight fail', async () => {
    const { logger, lines } = capturingLogger();
    const metrics = new SelfMetrics({ processMetrics: false });
    const iso = await start(logger, { metrics });
    await iso.handler.check!(entry('crash')); // answers, then throws from a timer
    await waitFor('a restart after the crash', () => iso.restarts >= 1 && iso.threadId !== undefined, 20_000);
    assert.equal(await restartsCounted(metrics, 'default/iso'), 1, 'mixer_adapter_worker_restarts_total counts the restart');
    assert.ok(
      lines.some((l) => /isolated handler worker failed: plugin iso crashed; restarting it in \d+ ms/.test(String(l.msg))),
      'the crash is logged',
    );

    await assert.rejects(Promise.resolve(iso.handler.check!(entry('exit'))), /its worker exited with code 3/);
    await waitFor('a restart after process.exit', () => iso.restarts >= 2 && iso.threadId !== undefined, 20_000);
    assert.equal(await restartsCounted(metrics, 'default/iso'), 2);
    assert.equal((await iso.handler.check!(entry('fine'))).status.code, 0);
  });

  it('while the worker is down, calls fail at once', async () => {
    const { logger } = capturingLogger();
    const iso = await start(logger, { backoffMs: 600_000 });
    await assert.rejects(Promise.resolve(iso.handler.check!(entry('exit'))), /exited with code 3/);
    await assert.rejects(Promise.resolve(iso.handler.check!(entry('fine'))), /its worker is down and restarting/);
  });

  it("the worker reaches Redis through a connection of its own, under the handler's key prefix @redis", async () => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const prefix = `mixer-test:isolated:${process.pid}:${Date.now()}:`;
    try {
      const iso = await start(capturingLogger().logger, { redis, keyPrefix: prefix });
      assert.equal((await iso.handler.check!(entry('redis please'))).status.message, 'redis has redis please');
      assert.equal(await redis.get(`${prefix}h:default/iso:seen`), 'redis please');
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('close is safe twice; calls after close fail', async () => {
    const { logger } = capturingLogger();
    const iso = await start(logger);
    await iso.close();
    await iso.close();
    await assert.rejects(Promise.resolve(iso.handler.check!(entry('fine'))), /is closed/);
  });

  it('a create that throws in the worker fails the start; an in-process factory cannot be isolated', async () => {
    const nocreate = loadPlugin('nocreate', { pluginsDir: tmp.dir }).factory!;
    const { logger } = capturingLogger();
    await assert.rejects(IsolatedHandler.start({ factory: nocreate, config: {}, handlerName: 'default/nc', logger }), /no handler for you/);
    const inProcess: AdapterFactory = { name: 'local', templates: ['checknothing'], configSchema: {}, create: () => ({}) };
    await assert.rejects(
      IsolatedHandler.start({ factory: inProcess, config: {}, handlerName: 'default/l', logger }),
      /needs an adapter Mixer can load by name/,
    );
  });

  it('HandlerRuntime runs a built-in adapter in a worker when its plan says isolation: worker', async () => {
    const config = validateParams(denierAdapter, { status: { code: 7, message: 'isolated no' } }, 'params').config;
    const metrics = new SelfMetrics({ processMetrics: false });
    const rt = await HandlerRuntime.start(
      { ref: 'default/deny', adapter: denierAdapter, config, isolation: 'worker', fingerprint: 'x' },
      { logger: capturingLogger().logger, metrics },
    );
    try {
      const r = await rt.handler.check!({ name: 'default/nothing', template: 'checknothing', fields: {} });
      assert.equal(r.status.code, 7);
      assert.equal(r.status.message, 'isolated no');
      assert.deepEqual(await rt.registry.getMetricsAsJSON(), []);
      assert.match(
        await metrics.registry.metrics(),
        /mixer_adapter_worker_restarts_total\{handler="default\/deny"\} 0/,
        'its restarts are counted under the handler',
      );
    } finally {
      await rt.close();
    }
  });
});
