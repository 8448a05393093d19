import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startMixer, startWorkerProcess, postJson } from '../support/processes';
import type { MixerProcess, WorkerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { waitFor } from '../support/wait';
import { forEachRedisMode } from '../support/redis-topology';
import type { RedisConnection } from '../../src/base/redis-connect';

const TOKEN = 'config-api-test-token';
const frontendToBackend = { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend' } };

/** The seed's three documents: rule, handler, instance. */
const [RULE, HANDLER, INSTANCE] = DENY_FRONTEND_TO_BACKEND.split(/^---\n/m);
const RULE_PATH = '/v1/config/Rule/default/deny-frontend-to-backend';
const HANDLER_PATH = '/v1/config/Handler/default/deny-all';
const INSTANCE_PATH = '/v1/config/Instance/default/nothing';

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** One call to the API; `body` text goes as YAML unless `type` says otherwise. */
async function call(
  base: string,
  method: string,
  p: string,
  opts: { token?: string | null; body?: string; type?: string; accept?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/yaml';
  if (opts.accept) headers.accept = opts.accept;
  const r = await fetch(`${base}${p}`, { method, headers, body: opts.body });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* YAML or text */
  }
  return { status: r.status, body, headers: r.headers };
}

const check = async (m: MixerProcess): Promise<any> => (await postJson(`${m.url}/v1/check`, frontendToBackend)).body;
const generation = async (m: MixerProcess): Promise<number> => ((await (await fetch(`${m.url}/v1/config/status`)).json()) as { generation: number }).generation;

/** PUTs instance, handler (as JSON), then rule: each valid when it arrives. Answers the rule's PUT. */
async function putDenyStory(base: string): Promise<Answer> {
  assert.equal((await call(base, 'PUT', INSTANCE_PATH, { body: INSTANCE })).status, 201);
  assert.equal((await call(base, 'PUT', HANDLER_PATH, { body: JSON.stringify(parseYaml(HANDLER)), type: 'application/json' })).status, 201);
  const rule = await call(base, 'PUT', RULE_PATH, { body: RULE });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  return rule;
}

describe('runtime config API', function () {
  this.timeout(90_000);

  describe('embedded mode', () => {
    let cfg: TempConfigDir;
    let mixer: MixerProcess;
    before(async () => {
      cfg = new TempConfigDir();
      cfg.write('local.yaml', 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: from-file}\nspec: {template: checknothing}\n');
      mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_ADMIN_TOKEN: TOKEN });
    });
    after(async () => {
      await mixer?.stop();
      cfg?.cleanup();
    });

    it('answers 401 without the token or with a wrong one, and changes nothing', async () => {
      const gen = await generation(mixer);
      const none = await call(mixer.url, 'PUT', INSTANCE_PATH, { token: null, body: INSTANCE });
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'MIXER_ERR_UNAUTHORIZED');
      assert.equal((await call(mixer.url, 'PUT', INSTANCE_PATH, { token: 'wrong', body: INSTANCE })).status, 401);
      assert.equal((await call(mixer.url, 'DELETE', '/v1/config/Instance/default/from-file', { token: 'wrong' })).status, 401);
      assert.equal((await call(mixer.url, 'GET', '/v1/config', { token: 'wrong' })).status, 401);
      assert.equal((await call(mixer.url, 'GET', INSTANCE_PATH)).status, 404, 'nothing was created');
      assert.equal(await generation(mixer), gen);
    });

    it('refuses a bad object with every problem and keeps the live config; checks the URL, the media type and who owns the key', async () => {
      const gen = await generation(mixer);
      const badBody = RULE.replace('instances: [nothing]', 'instances: [nothing], extra: 1');
      const badLine = badBody.split('\n').findIndex((l) => l.includes('extra: 1')) + 1;
      const bad = await call(mixer.url, 'PUT', RULE_PATH, { body: badBody });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'MIXER_ERR_CONFIG_INVALID');
      assert.deepEqual(
        bad.body.error.details.map((d: { field: string }) => d.field),
        [`api:${badLine} Rule/default/deny-frontend-to-backend spec.actions[0].extra`],
        'the line of the body sent',
      );

      const dangling = await call(mixer.url, 'PUT', RULE_PATH, { body: RULE });
      assert.equal(dangling.status, 400, 'the whole config is validated: the rule names a handler and an instance that do not exist');
      const reasons = dangling.body.error.details.map((d: { field: string; reason: string }) => `${d.field}: ${d.reason}`);
      const handlerLine = RULE.split('\n').findIndex((l) => l.includes('handler: deny-all')) + 1;
      assert.deepEqual(reasons, [`api:${handlerLine} Rule/default/deny-frontend-to-backend spec.actions[0].handler: handler default/deny-all does not exist`]);
      assert.equal((await check(mixer)).status.code, 0);
      assert.equal(await generation(mixer), gen, 'the live config is unchanged');

      const mismatch = await call(mixer.url, 'PUT', '/v1/config/Instance/prod/other', { body: INSTANCE });
      assert.equal(mismatch.status, 400);
      assert.equal(mismatch.body.error.code, 'MIXER_ERR_BAD_REQUEST');
      assert.deepEqual(
        mismatch.body.error.details.map((d: { field: string }) => d.field),
        ['metadata.namespace', 'metadata.name'],
      );
      const wrongKind = await call(mixer.url, 'PUT', '/v1/config/Handler/default/nothing', { body: INSTANCE });
      assert.deepEqual(
        wrongKind.body.error.details.map((d: { field: string }) => d.field),
        ['kind'],
      );

      const media = await call(mixer.url, 'PUT', INSTANCE_PATH, { body: INSTANCE, type: 'text/plain' });
      assert.equal(media.status, 415);
      assert.equal(media.body.error.code, 'MIXER_ERR_UNSUPPORTED_MEDIA_TYPE');
      assert.equal((await call(mixer.url, 'PUT', INSTANCE_PATH, { body: INSTANCE, type: 'application/json' })).body.error.code, 'MIXER_ERR_BAD_JSON');
      assert.equal((await call(mixer.url, 'PUT', INSTANCE_PATH, { body: `${INSTANCE}---\n${INSTANCE}` })).status, 400, 'one document per PUT');

      const dry = await call(mixer.url, 'PUT', `${INSTANCE_PATH}?dryRun=true`, { body: INSTANCE });
      assert.deepEqual([dry.status, dry.body.valid, dry.body.created], [200, true, true]);
      assert.equal((await call(mixer.url, 'PUT', `${RULE_PATH}?dryRun=true`, { body: RULE })).status, 400);
      assert.equal((await call(mixer.url, 'GET', INSTANCE_PATH)).status, 404, 'a dry run stores nothing');
      assert.equal((await call(mixer.url, 'POST', INSTANCE_PATH, { body: INSTANCE })).status, 405);

      const fromFile = '/v1/config/Instance/default/from-file';
      const put409 = await call(mixer.url, 'PUT', fromFile, {
        body: 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: from-file}\nspec: {template: listentry}\n',
      });
      assert.equal(put409.status, 409);
      assert.equal(put409.body.error.code, 'MIXER_ERR_CONFLICT');
      assert.match(put409.body.error.message, /local\.yaml:1/);
      assert.equal((await call(mixer.url, 'DELETE', fromFile)).status, 409);
      assert.equal((await call(mixer.url, 'GET', '/v1/config/Instance/default/ghost')).status, 404);
      assert.equal((await call(mixer.url, 'DELETE', '/v1/config/Instance/default/ghost')).status, 404);
      assert.equal(await generation(mixer), gen);
    });

    it('tells the seed story through the API: deny, refuse to break it, allow again', async () => {
      assert.equal((await check(mixer)).status.code, 0);
      const rule = await putDenyStory(mixer.url);
      assert.equal(rule.body.object.metadata.name, 'deny-frontend-to-backend');
      const denied = await check(mixer);
      assert.equal(denied.status.code, 7, 'live before the PUT answered');
      assert.equal(denied.status.message, 'frontend may not call backend');
      assert.equal(denied.configGeneration, rule.body.configGeneration);

      const list = await call(mixer.url, 'GET', '/v1/config');
      const sources = list.body.items.map(
        (i: { kind: string; name: string; source: string; file?: string }) => `${i.kind}/${i.name} ${i.source}${i.file ? ` ${path.basename(i.file)}` : ''}`,
      );
      assert.deepEqual(
        sources.filter((s: string) => !s.startsWith('AttributeManifest')),
        ['Handler/deny-all api', 'Instance/from-file file local.yaml:1', 'Instance/nothing api', 'Rule/deny-frontend-to-backend api'],
      );
      const rules = await call(mixer.url, 'GET', '/v1/config?kind=Rule');
      assert.deepEqual(
        rules.body.items.map((i: { name: string }) => i.name),
        ['deny-frontend-to-backend'],
      );
      const yaml = await call(mixer.url, 'GET', HANDLER_PATH, { accept: 'application/yaml' });
      assert.match(yaml.headers.get('content-type') ?? '', /yaml/);
      assert.equal(parseYaml(yaml.body).spec.params.status.code, 7);
      assert.equal((await call(mixer.url, 'GET', HANDLER_PATH)).body.spec.adapter, 'denier', 'JSON by default');

      const replaced = await call(mixer.url, 'PUT', INSTANCE_PATH, { body: `${INSTANCE}# replaced\n` });
      assert.equal(replaced.status, 200, 'replace answers 200');

      const breaking = await call(mixer.url, 'DELETE', HANDLER_PATH);
      assert.equal(breaking.status, 400, 'a rule still uses the handler');
      assert.match(
        JSON.stringify(breaking.body.error.details),
        /Rule\/default\/deny-frontend-to-backend spec\.actions\[0\]\.handler.*handler default\/deny-all does not exist/,
      );
      assert.equal((await check(mixer)).status.code, 7);

      const deleted = await call(mixer.url, 'DELETE', RULE_PATH);
      assert.equal(deleted.status, 200);
      const allowed = await check(mixer);
      assert.equal(allowed.status.code, 0);
      assert.equal(allowed.configGeneration, deleted.body.configGeneration);
    });

    it('lets a file win over an API object with the same key, in the log and in the status', async () => {
      assert.equal((await call(mixer.url, 'PUT', '/v1/config/Instance/default/later', { body: INSTANCE.replace('name: nothing', 'name: later') })).status, 201);
      cfg.write('later.yaml', 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: later, labels: {from: file}}\nspec: {template: checknothing}\n');
      const status = await waitFor(
        'the file to be loaded',
        async () => {
          const s: any = await (await fetch(`${mixer.url}/v1/config/status`)).json();
          return s.api.shadowed.length > 0 ? s : undefined;
        },
        5000,
      );
      assert.equal(status.api.shadowed[0].key, 'Instance/default/later');
      assert.match(status.api.shadowed[0].file, /later\.yaml:1$/);
      assert.match(mixer.output(), /hidden by a config file object with the same key: the file wins/);
      const live = await call(mixer.url, 'GET', '/v1/config/Instance/default/later');
      assert.equal(live.headers.get('x-mixer-source'), 'file');
      assert.deepEqual(live.body.metadata.labels, { from: 'file' });
      assert.equal((await call(mixer.url, 'DELETE', '/v1/config/Instance/default/later')).status, 200, 'the hidden API object can be deleted');
      cfg.remove('later.yaml');
    });

    it('keeps API objects across a restart, under <configDir>/.mixer-api', async () => {
      assert.equal((await call(mixer.url, 'PUT', RULE_PATH, { body: RULE })).status, 201, 'the instance and handler are still there');
      assert.ok(existsSync(path.join(cfg.dir, '.mixer-api')));
      assert.equal(readdirSync(path.join(cfg.dir, '.mixer-api')).length, 3);
      await mixer.stop();
      mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_ADMIN_TOKEN: TOKEN });
      assert.equal((await check(mixer)).status.code, 7, 'the rule is in force from the start');
      assert.equal((await call(mixer.url, 'GET', RULE_PATH)).status, 200);
    });
  });

  describe('without an admin token', () => {
    let cfg: TempConfigDir;
    let mixer: MixerProcess;
    before(async () => {
      cfg = new TempConfigDir();
      mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_ADMIN_TOKEN: '', MIXER_ADMIN_TOKEN_FILE: '' });
    });
    after(async () => {
      await mixer?.stop();
      cfg?.cleanup();
    });

    it('is off (403), not open', async () => {
      for (const token of [null, 'anything']) {
        const r = await call(mixer.url, 'PUT', INSTANCE_PATH, { token, body: INSTANCE });
        assert.equal(r.status, 403);
        assert.equal(r.body.error.code, 'MIXER_ERR_API_DISABLED');
      }
      assert.equal((await call(mixer.url, 'GET', '/v1/config', { token: null })).status, 403);
      assert.ok(!existsSync(path.join(cfg.dir, '.mixer-api')));
    });
  });

  forEachRedisMode((mode) => {
    describe('with Redis: two replicas and a worker @redis', () => {
      const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
      const env = (dir: string) => ({ ...mode.env, MIXER_CONFIG_DIR: dir, MIXER_KEY_PREFIX: prefix, MIXER_ADMIN_TOKEN: TOKEN });
      let redis: RedisConnection;
      let cfg: TempConfigDir;
      let a: MixerProcess;
      let b: MixerProcess;
      let worker: WorkerProcess;
      before(async () => {
        cfg = new TempConfigDir();
        [a, b, worker] = await Promise.all([startMixer(env(cfg.dir)), startMixer(env(cfg.dir)), startWorkerProcess(env(cfg.dir))]);
        redis = mode.connect();
      });
      after(async () => {
        await Promise.all([a?.stop(), b?.stop(), worker?.stop()]);
        await mode.deleteKeys(prefix);
        cfg?.cleanup();
      });

      const workerGeneration = async (): Promise<number> =>
        ((await (await fetch(`${worker.metricsUrl}/readyz`)).json()) as { configGeneration: number }).configGeneration;
      const version = async (m: MixerProcess): Promise<{ generation: number; epoch: string }> => {
        const s = (await (await fetch(`${m.url}/v1/config/status`)).json()) as { generation: number; epoch: string };
        return { generation: s.generation, epoch: s.epoch };
      };

      it('numbers the config the same on every replica, so sidecars behind a load balancer keep their caches', async () => {
        const [va, vb] = [await version(a), await version(b)];
        assert.deepEqual(va, vb);
        assert.equal((await check(a)).configGeneration, (await check(b)).configGeneration);
        const routes = await Promise.all([a, b].map(async (m) => (await fetch(`${m.url}/v1/routes`)).headers.get('etag')));
        assert.equal(routes[0], routes[1], 'one ETag: a poll answered by the other replica is still a 304');
      });

      it('enforces a rule created through one replica on the other, and in the worker, within a second', async () => {
        assert.equal((await check(b)).status.code, 0);
        // The story is three writes, each a generation: the worker has the change once it has the last one.
        const written = ((await putDenyStory(a.url)).body as { configGeneration: number }).configGeneration;
        const answered = Date.now();
        await waitFor('replica b to deny', async () => (await check(b)).status.code === 7, 1000 - (Date.now() - answered), 20);
        await waitFor('the worker to load the change', async () => (await workerGeneration()) >= written, 1000 - (Date.now() - answered), 20);
        const objects = await redis.hkeys(`${prefix}{config}:objects`);
        assert.deepEqual(objects.filter((k) => !k.startsWith('#')).sort(), [
          'Handler/default/deny-all',
          'Instance/default/nothing',
          'Rule/default/deny-frontend-to-backend',
        ]);
        const status: any = await (await fetch(`${b.url}/v1/config/status`)).json();
        assert.equal(status.api.store, 'redis');
        assert.equal(status.api.objects, 3);
        await waitFor('both replicas at one version', async () => JSON.stringify(await version(a)) === JSON.stringify(await version(b)), 2000, 20);
        assert.equal(status.generation, (await version(a)).generation);
        assert.equal(await workerGeneration(), status.generation, 'the worker too');
      });

      it('keeps the rule in force after both replicas restart', async () => {
        await Promise.all([a.stop(), b.stop()]);
        [a, b] = await Promise.all([startMixer(env(cfg.dir)), startMixer(env(cfg.dir))]);
        for (const m of [a, b]) assert.equal((await check(m)).status.code, 7);
        assert.ok(!existsSync(path.join(cfg.dir, '.mixer-api')), 'with Redis nothing is written beside the files');

        const [before] = [await version(a)];
        assert.deepEqual(await version(b), before, 'restarted replicas keep the number of the config they serve');
        const deleted = await call(b.url, 'DELETE', RULE_PATH);
        assert.equal(deleted.status, 200);
        const answered = Date.now();
        await waitFor('replica a to allow again', async () => (await check(a)).status.code === 0, 1000 - (Date.now() - answered), 20);
        // Back to the first content: a newer generation all the same (sidecars compare by "newer"), on both.
        await waitFor('both replicas at one version', async () => JSON.stringify(await version(a)) === JSON.stringify(await version(b)), 2000, 20);
        assert.ok((await version(a)).generation > before.generation);
        assert.equal(deleted.body.configGeneration, (await version(a)).generation);
      });
    });
  });
});
