import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, symlinkSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { startMixer, postJson, spawnNode, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { TempPluginsDir, testAdapterSource } from '../support/plugin-dir';
import { HttpSink } from '../support/http-sink';
import { parsePromText, sumOf } from '../support/prom-text';
import { waitFor } from '../support/wait';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A code block of docs/writing-an-adapter.md, by the path in its first line (`// plugins/webhook/index.js`). */
function docExample(file: string): string {
  const md = readFileSync(path.join(REPO, 'docs', 'writing-an-adapter.md'), 'utf8');
  for (const m of md.matchAll(/```js\n\/\/ (\S+)\n([\s\S]*?)```/g)) if (m[1] === file) return m[2];
  throw new Error(`docs/writing-an-adapter.md has no example ${file}`);
}

const check = (mixer: MixerProcess, destination: string) =>
  postJson(`${mixer.url}/v1/check`, { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': destination } });

async function scrape(mixer: MixerProcess, name: string, labels: Record<string, string>): Promise<number> {
  return sumOf(parsePromText(await (await fetch(`${mixer.url}/metrics`)).text()), name, labels);
}

const dispatchErrors = (mixer: MixerProcess, handler: string) => scrape(mixer, 'mixer_adapter_dispatch_total', { handler, result: 'error' });
const workerRestarts = (mixer: MixerProcess, handler: string) => scrape(mixer, 'mixer_adapter_worker_restarts_total', { handler });

describe('plugins: an out-of-tree adapter loaded at run time', function () {
  this.timeout(90_000);
  let plugins: TempPluginsDir;
  let cfg: TempConfigDir;
  let sink: HttpSink;
  let mixer: MixerProcess | undefined;

  beforeEach(async () => {
    plugins = new TempPluginsDir();
    cfg = new TempConfigDir();
    sink = new HttpSink();
    await sink.start();
  });
  afterEach(async () => {
    await mixer?.stop();
    mixer = undefined;
    await sink.stop();
    cfg.cleanup();
    plugins.cleanup();
  });

  it('the documented webhook plugin passes its own tests (conformance kit through require("mixer"))', async () => {
    plugins.folder('webhook', {
      'index.js': docExample('plugins/webhook/index.js'),
      'test/webhook.test.js': docExample('plugins/webhook/test/webhook.test.js'),
    });
    mkdirSync(path.join(plugins.dir, 'webhook', 'node_modules'));
    symlinkSync(REPO, path.join(plugins.dir, 'webhook', 'node_modules', 'mixer'), 'dir');
    const mocha = spawnNode([
      path.join(REPO, 'node_modules', 'mocha', 'bin', 'mocha.js'),
      '--no-config',
      '--timeout',
      '30000',
      '--exit',
      path.join(plugins.dir, 'webhook', 'test', 'webhook.test.js'),
    ]);
    const code = await mocha.exited;
    assert.equal(code, 0, mocha.output());
    assert.match(mocha.output(), /adapter conformance: webhook/);
    assert.match(mocha.output(), /a transient report failure is retryable/);
  });

  it('a webhook plugin from MIXER_PLUGINS_DIR receives the metric instances of /v1/report', async () => {
    plugins.folder('webhook', {
      'package.json': JSON.stringify({ name: 'mixer-adapter-webhook', main: 'lib/index.js' }),
      'lib/index.js': docExample('plugins/webhook/index.js'),
    });
    cfg.write(
      'webhook.yaml',
      `apiVersion: mixer/v1
kind: Handler
metadata: {name: hook}
spec:
  adapter: webhook
  params: {url: "${sink.url}/hook"}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: requestcount}
spec:
  template: metric
  params:
    value: "1"
    dimensions:
      source: source.labels["app"] | "unknown"
      destination: destination.service.name | "unknown"
      code: response.code | 200
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: requests-to-webhook}
spec:
  actions:
    - {handler: hook, instances: [requestcount]}
`,
    );
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, MIXER_PLUGINS_DIR: plugins.dir, REDIS_URL: '' });
    const r = await postJson(`${mixer.url}/v1/report`, {
      attributes: [
        { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend', 'response.code': 200 },
        { 'destination.service.name': 'backend', 'response.code': 503 },
      ],
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await waitFor('the webhook to receive both instances', () => sink.received.length >= 2, 30_000);
    assert.deepEqual(sink.received, [
      { instance: 'default/requestcount', value: 1, dimensions: { source: 'frontend', destination: 'backend', code: 200 } },
      { instance: 'default/requestcount', value: 1, dimensions: { source: 'unknown', destination: 'backend', code: 503 } },
    ]);
    assert.match(mixer.output(), /"msg":"plugin adapter loaded"/);
    assert.match(mixer.output(), /"msg":"webhook handler created"/);
  });

  describe('a plugin that throws and hangs in check', () => {
    let prefix: string;
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    after(() => redis.disconnect());
    afterEach(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    });

    async function startFlaky(): Promise<MixerProcess> {
      plugins.folder('flaky', { 'index.js': testAdapterSource('flaky') });
      const rule = (name: string, handler: string, values: string[]) => `apiVersion: mixer/v1
kind: Rule
metadata: {name: ${name}}
spec:
  match: {all: [{fact: destination.service.name, operator: in, value: [${values.join(', ')}]}]}
  actions:
    - {handler: ${handler}, instances: [target]}
`;
      cfg.write(
        'flaky.yaml',
        [
          'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: flaky-inline}\nspec: {adapter: flaky}\n',
          'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: flaky-isolated}\nspec: {adapter: flaky, isolation: worker}\n',
          'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: target}\nspec: {template: listentry, params: {value: destination.service.name}}\n',
          rule('inline', 'flaky-inline', ['inline-throw', 'inline-fine']),
          rule('isolated', 'flaky-isolated', ['isolated-hang', 'isolated-throw', 'isolated-fine']),
        ].join('---\n'),
      );
      prefix = `mixer-test:plugins:${randomBytes(4).toString('hex')}:`;
      return startMixer({ MIXER_CONFIG_DIR: cfg.dir, MIXER_PLUGINS_DIR: plugins.dir, REDIS_URL, MIXER_KEY_PREFIX: prefix, MIXER_ADAPTER_TIMEOUT_MS: '1000' });
    }

    it('in process: the check answers UNAVAILABLE, counted and logged, and Mixer keeps serving', async () => {
      mixer = await startFlaky();
      const failed = await check(mixer, 'inline-throw');
      assert.equal(failed.status, 200);
      assert.equal(failed.body.status.code, 14, JSON.stringify(failed.body));
      assert.match(failed.body.status.message, /handler default\/flaky-inline failed: plugin flaky refuses inline-throw/);
      assert.equal(failed.body.validDuration, '0s');
      assert.equal((await check(mixer, 'inline-fine')).body.status.code, 0, 'the same handler answers other checks');
      assert.equal((await check(mixer, 'elsewhere')).body.status.code, 0, 'other checks answer');
      assert.ok((await dispatchErrors(mixer, 'default/flaky-inline')) > 0, 'mixer_adapter_dispatch_total{result="error"}');
      await waitFor('the failure in the log', () => /handler default\/flaky-inline failed: plugin flaky refuses inline-throw/.test(mixer!.output()));
    });

    it('isolation: worker: a synchronous while(true) in check answers UNAVAILABLE, Mixer keeps answering, the worker is restarted', async () => {
      mixer = await startFlaky();
      assert.equal((await check(mixer, 'isolated-fine')).body.status.code, 0);
      assert.equal(await workerRestarts(mixer, 'default/flaky-isolated'), 0);
      const hung = check(mixer, 'isolated-hang');
      // While the plugin spins in its worker, Mixer answers everything else.
      for (const dest of ['elsewhere', 'inline-fine']) assert.equal((await check(mixer, dest)).body.status.code, 0);
      assert.equal((await fetch(`${mixer.url}/healthz`)).status, 200);
      const answer = await hung;
      assert.equal(answer.body.status.code, 14, JSON.stringify(answer.body));
      assert.match(answer.body.status.message, /handler default\/flaky-isolated/);

      await waitFor('the hung worker to be terminated and restarted', () => /isolated handler worker restarted/.test(mixer!.output()), 30_000);
      assert.match(mixer.output(), /did not answer a ping within \d+ ms \(stuck in synchronous code\?\); terminating it/);
      await waitFor('the isolated handler to answer again', async () => (await check(mixer!, 'isolated-fine')).body.status.code === 0, 30_000);
      assert.equal(await workerRestarts(mixer, 'default/flaky-isolated'), 1, 'mixer_adapter_worker_restarts_total counts the restart');

      const thrown = await check(mixer, 'isolated-throw');
      assert.equal(thrown.body.status.code, 14);
      assert.match(thrown.body.status.message, /plugin flaky refuses isolated-throw/);
      assert.ok((await dispatchErrors(mixer, 'default/flaky-isolated')) > 0);
      assert.equal(mixer.child.exitCode, null, 'Mixer is still running');
    });
  });
});
