import assert from 'node:assert/strict';
import { adapterInventory } from '../../../adapters/index';
import { ConfigStore } from '../../../src/runtime/config-store';
import { createAdapterResolver } from '../../../src/plugins/loader';
import { SelfMetrics } from '../../../src/metrics/self-metrics';
import { ConfigError } from '../../../src/base/errors';
import { silentLogger } from '../../../src/base/log';
import { parseConfigText } from '../../../src/config/load';
import { compileConfig } from '../../../src/config/compile';
import type { InstanceValue } from '../../../src/sdk/adapter';
import { TempConfigDir } from '../../support/config-dir';
import { TempPluginsDir, testAdapterSource } from '../../support/plugin-dir';

const handler = (name: string, adapter: string, extra = ''): string => `apiVersion: mixer/v1
kind: Handler
metadata: {name: ${name}}
spec:
  adapter: ${adapter}
  params: {note: hello}
${extra}`;

const entry: InstanceValue = { name: 'default/v', template: 'listentry', fields: { value: 'x' } };

describe('plugins: config with plugin handlers', () => {
  let plugins: TempPluginsDir;
  let config: TempConfigDir;
  let store: ConfigStore | undefined;
  beforeEach(() => {
    plugins = new TempPluginsDir();
    plugins.folder('echo', { 'index.js': testAdapterSource('echo') });
    config = new TempConfigDir();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    plugins.cleanup();
    config.cleanup();
  });

  function newStore(): ConfigStore {
    store = new ConfigStore({
      dir: config.dir,
      adapters: adapterInventory(),
      resolveAdapters: createAdapterResolver({ pluginsDir: plugins.dir, logger: silentLogger() }),
      logger: silentLogger(),
      metrics: new SelfMetrics(),
      drainMs: 10,
    });
    return store;
  }

  it('runs a plugin handler in process, and in a worker when it says isolation: worker', async () => {
    config.write('h.yaml', `${handler('inline', 'echo')}---\n${handler('isolated', 'echo', '  isolation: worker\n')}`);
    const snap = await newStore().start();
    const inline = snap.handlers.get('default/inline')!;
    const isolated = snap.handlers.get('default/isolated')!;
    assert.equal(inline.plan.isolation, 'none');
    assert.equal(isolated.plan.isolation, 'worker');
    assert.notEqual(inline.plan.fingerprint, isolated.plan.fingerprint, 'isolation is part of the fingerprint');
    assert.equal((await inline.handler.check!(entry)).status.message, 'hello');
    assert.equal((await isolated.handler.check!(entry)).status.message, 'hello');
  });

  it('a plugin that throws on load is a config error naming its adapter and the Handler, not a crash', async () => {
    plugins.folder('broken', { 'index.js': "throw new Error('cannot even start');" });
    config.write('h.yaml', handler('b', 'broken'));
    const err = await newStore()
      .start()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof ConfigError);
    const text = err.details.map((d) => `${d.field} :: ${d.reason}`).join('\n');
    assert.match(text, /adapter "broken" :: plugin .*broken\/index\.js failed to load: cannot even start/);
    assert.match(text, /h\.yaml:\d+ Handler\/default\/b spec\.adapter :: unknown adapter "broken"/);
  });

  it('isolation takes only none or worker', () => {
    const loaded = parseConfigText(handler('x', 'denier', '  isolation: process\n').replace('params: {note: hello}', 'params: {}'), 'c.yaml', {});
    assert.equal(loaded.errors.length, 1);
    assert.match(`${loaded.errors[0].field} ${loaded.errors[0].reason}`, /c\.yaml:\d+ spec\.isolation must be equal to one of the allowed values/);
    const ok = parseConfigText(handler('x', 'denier', '  isolation: none\n').replace('params: {note: hello}', 'params: {}'), 'c.yaml', {});
    assert.deepEqual(ok.errors, []);
    assert.equal(compileConfig(ok.objects, adapterInventory()).plan!.handlers.get('default/x')!.isolation, 'none');
  });
});
