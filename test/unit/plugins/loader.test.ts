import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createAdapterResolver, loadPlugin } from '../../../src/plugins/loader';
import { adapterSourceOf } from '../../../src/plugins/adapter-source';
import { silentLogger } from '../../../src/base/log';
import { createAdapterEnv } from '../../../src/sdk/env';
import { validateParams } from '../../../src/sdk/params';
import { TempPluginsDir, testAdapterSource } from '../../support/plugin-dir';

describe('plugins: loader', () => {
  let tmp: TempPluginsDir;
  beforeEach(() => {
    tmp = new TempPluginsDir();
  });
  afterEach(() => tmp.cleanup());
  const lookup = () => ({ pluginsDir: tmp.dir, cwd: tmp.dir });

  it('loads a folder plugin through its package.json main, and records where it came from', async () => {
    tmp.folder('webhook', {
      'package.json': JSON.stringify({ name: 'webhook', main: 'lib/entry.js' }),
      'lib/entry.js': testAdapterSource('webhook'),
    });
    const r = loadPlugin('webhook', lookup());
    assert.deepEqual(r.errors, []);
    assert.equal(r.factory!.name, 'webhook');
    assert.equal(r.file, path.join(tmp.dir, 'webhook', 'lib', 'entry.js'));
    assert.deepEqual(adapterSourceOf(r.factory!), { kind: 'module', name: 'webhook', file: r.file, exportName: 'adapter' });
    const config = validateParams(r.factory!, {}, 'params').config;
    const owned = createAdapterEnv({ handlerName: 'default/hook' });
    const h = await r.factory!.create(config, owned.env);
    assert.deepEqual(await h.check!({ name: 'default/v', template: 'listentry', fields: { value: 'x' } }), {
      status: { code: 0, message: 'ok' },
      validDuration: 1000,
    });
    owned.dispose();
  });

  it('loads a folder plugin without package.json from index.js, exported as default', () => {
    tmp.folder('plain', { 'index.js': testAdapterSource('plain', 'default') });
    const r = loadPlugin('plain', lookup());
    assert.deepEqual(r.errors, []);
    assert.equal(r.factory!.name, 'plain');
  });

  it('finds an npm package mixer-adapter-<name>, then <name>, in a node_modules above the plugins folder', () => {
    tmp.npmPackage('mixer-adapter-kafkaish', {
      'package.json': JSON.stringify({ name: 'mixer-adapter-kafkaish', main: 'main.js' }),
      'main.js': testAdapterSource('kafkaish'),
    });
    tmp.npmPackage('bare', { 'index.js': testAdapterSource('bare') });
    const a = loadPlugin('kafkaish', lookup());
    assert.deepEqual(a.errors, []);
    assert.equal(a.file, path.join(tmp.nodeModules, 'mixer-adapter-kafkaish', 'main.js'));
    const b = loadPlugin('bare', { pluginsDir: path.join(tmp.root, 'does-not-exist'), cwd: tmp.root });
    assert.deepEqual(b.errors, []);
    assert.equal(b.file, path.join(tmp.nodeModules, 'bare', 'index.js'));
  });

  it('prefers the plugins folder over an npm package of the same name', () => {
    tmp.folder('dup', { 'index.js': testAdapterSource('dup') });
    tmp.npmPackage('mixer-adapter-dup', { 'index.js': testAdapterSource('dup') });
    assert.equal(loadPlugin('dup', lookup()).file, path.join(tmp.dir, 'dup', 'index.js'));
  });

  it('reports a module without a factory export, and a factory of the wrong shape, naming the adapter', () => {
    tmp.folder('nothing', { 'index.js': 'exports.somethingElse = 1;' });
    const none = loadPlugin('nothing', lookup());
    assert.equal(none.factory, undefined);
    assert.equal(none.errors.length, 1);
    assert.equal(none.errors[0].field, 'adapter "nothing"');
    assert.match(none.errors[0].reason, /exports no adapter factory \(export it as "adapter" or as the default export\)/);

    tmp.folder('shape', { 'index.js': "exports.adapter = { name: 'shape', templates: ['metric', 'bogus'], configSchema: 'x', create: 42 };" });
    const bad = loadPlugin('shape', lookup());
    assert.equal(bad.factory, undefined);
    const reasons = bad.errors.map((e) => e.reason).join('\n');
    assert.match(reasons, /unknown template\(s\) "bogus"/);
    assert.match(reasons, /configSchema must be a JSON Schema object/);
    assert.match(reasons, /create must be a function/);
    assert.ok(bad.errors.every((e) => e.field === 'adapter "shape"'));

    tmp.folder('empty', { 'index.js': "exports.adapter = { name: 'empty', templates: [], configSchema: {}, create() { return {}; } };" });
    assert.match(loadPlugin('empty', lookup()).errors[0].reason, /templates must be a non-empty list/);
  });

  it('reports a factory whose name differs from the name Handlers ask for', () => {
    tmp.folder('asked', { 'index.js': testAdapterSource('other-name') });
    const r = loadPlugin('asked', lookup());
    assert.equal(r.factory, undefined);
    assert.match(r.errors[0].reason, /its name is "other-name", but Handlers ask for "asked"/);
  });

  it('turns a module that throws on load into an error, not a crash', () => {
    tmp.folder('boom', { 'index.js': "throw new Error('plugin top level exploded');" });
    const r = loadPlugin('boom', lookup());
    assert.equal(r.factory, undefined);
    assert.match(r.errors[0].reason, /failed to load: plugin top level exploded/);
  });

  it('says where it looked for a missing plugin, and refuses names that are not plugin names', () => {
    const r = loadPlugin('nowhere', lookup());
    assert.match(
      r.errors[0].reason,
      /no built-in or plugin adapter "nowhere": looked for the folder .*nowhere\/ and the npm packages mixer-adapter-nowhere and nowhere/,
    );
    for (const name of ['../etc', 'Upper', '@scope/x', 'a/b']) {
      const e = loadPlugin(name, lookup()).errors;
      assert.equal(e.length, 1, name);
      assert.match(e[0].reason, /nor a valid plugin name/, name);
    }
  });

  it('a folder plugin without an entry point is reported', () => {
    tmp.folder('noentry', { 'README.md': 'nothing here' });
    assert.match(loadPlugin('noentry', lookup()).errors[0].reason, /plugin folder .*noentry has no loadable entry point/);
  });

  describe('createAdapterResolver', () => {
    it('keeps a loaded plugin, and tries a failed one again on the next load', async () => {
      const resolve = createAdapterResolver({ ...lookup(), logger: silentLogger() });
      tmp.folder('later', { 'index.js': "throw new Error('not ready yet');" });
      tmp.folder('good', { 'index.js': testAdapterSource('good') });
      const first = await resolve(['later', 'good']);
      assert.deepEqual([...first.adapters.keys()], ['good']);
      assert.equal(first.errors.length, 1);
      assert.equal(first.errors[0].field, 'adapter "later"');

      tmp.folder('later', { 'index.js': testAdapterSource('later') });
      const second = await resolve(['later', 'good']);
      assert.deepEqual(second.errors, []);
      assert.deepEqual([...second.adapters.keys()].sort(), ['good', 'later']);
      assert.equal(second.adapters.get('good'), first.adapters.get('good'), 'a loaded plugin is kept');
    });
  });
});
