import { strict as assert } from 'node:assert';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { waitFor } from '../support/wait';

const frontendToBackend = { attributes: { 'source.labels': { app: 'frontend', version: 'v1' }, 'destination.service.name': 'backend' } };
const frontendToOther = { attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'other' } };

describe('the seed denial story (real process, hot reload)', function () {
  this.timeout(30_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;

  before(async () => {
    cfg = new TempConfigDir();
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '' });
  });
  after(async () => {
    await mixer?.stop();
    cfg?.cleanup();
  });

  const check = (body: unknown) => postJson(`${mixer.url}/v1/check`, body);

  it('allows, denies within a second of the rule file appearing, and allows again once it is gone, without a restart', async () => {
    const first = await check(frontendToBackend);
    assert.equal(first.status, 200);
    assert.equal(first.body.status.code, 0);
    const gen0 = first.body.configGeneration;

    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    const denied = await waitFor(
      'the deny rule to bite',
      async () => {
        const r = await check(frontendToBackend);
        return r.body.status.code === 7 ? r : undefined;
      },
      1000,
      20,
    );
    assert.equal(denied.body.status.message, 'frontend may not call backend');
    assert.equal(denied.body.validDuration, '5s');
    assert.equal(denied.body.validUseCount, 1000);
    assert.ok(denied.body.configGeneration > gen0, 'a new config generation');
    assert.deepEqual(
      denied.body.referencedAttributes
        .map((a: { name: string; key?: string; condition: string }) => `${a.name}${a.key ? `[${a.key}]` : ''}:${a.condition}`)
        .sort(),
      ['destination.service.name:EXACT', 'source.labels[app]:EXACT'],
    );

    const other = await check(frontendToOther);
    assert.equal(other.body.status.code, 0, 'frontend→other stays allowed');

    cfg.remove('deny.yaml');
    await waitFor('the rule removal to take effect', async () => (await check(frontendToBackend)).body.status.code === 0, 1000, 20);

    assert.equal(mixer.child.exitCode, null, 'the process never restarted');
    const status: any = await (await fetch(`${mixer.url}/v1/config/status`)).json();
    assert.equal(status.lastReload.ok, true);
    assert.ok(status.generation >= gen0 + 2);
  });

  it('rejects a bad change, keeps serving the last good config, and shows why', async () => {
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    await waitFor('deny', async () => (await check(frontendToBackend)).body.status.code === 7, 2000);
    const before = (await check(frontendToBackend)).body.configGeneration;

    cfg.write('broken.yaml', 'apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: broken}\nspec:\n  actions:\n    - {handler: nowhere, instances: [nothing]}\n');
    const status = await waitFor(
      'the rejected reload',
      async () => {
        const s: any = await (await fetch(`${mixer.url}/v1/config/status`)).json();
        return s.lastReload && !s.lastReload.ok ? s : undefined;
      },
      3000,
    );
    assert.match(JSON.stringify(status.lastReload.errors), /broken\.yaml:6.*handler default\/nowhere does not exist/);
    const still = await check(frontendToBackend);
    assert.equal(still.body.status.code, 7, 'the last good config keeps serving');
    assert.equal(still.body.configGeneration, before);
    const metrics = await (await fetch(`${mixer.url}/metrics`)).text();
    assert.match(metrics, /mixer_config_reloads_total\{result="failed"\} [1-9]/);

    cfg.remove('broken.yaml');
    cfg.remove('deny.yaml');
    await waitFor('allowed again', async () => (await check(frontendToBackend)).body.status.code === 0, 3000);
  });
});
