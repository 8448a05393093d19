import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { startMixer, postJson, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { TestRedis } from '../support/redis-server';
import { parsePromText, sumOf } from '../support/prom-text';
import { frontendToBackend, batches } from '../support/traffic';
import { waitFor } from '../support/wait';

const TOKEN = 'test-admin-token';

/** A config dir with the vocabulary and the default tracing config only. */
function tracingConfig(): TempConfigDir {
  const cfg = new TempConfigDir();
  copyFileSync(path.join(REPO, 'rules', 'tracing.yaml'), path.join(cfg.dir, 'tracing.yaml'));
  return cfg;
}

async function scrape(url: string) {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

describe('report delivery: retries, dead letters and a lost Redis', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let sink: HttpSink;
  let cfg: TempConfigDir;
  let mixer: MixerProcess | undefined;

  beforeEach(async () => {
    redis = new TestRedis();
    await redis.start();
    sink = new HttpSink();
    await sink.start();
    cfg = tracingConfig();
  });
  afterEach(async () => {
    await mixer?.stop();
    mixer = undefined;
    await sink.stop();
    await redis.cleanup();
    cfg.cleanup();
  });

  const start = (extra: NodeJS.ProcessEnv = {}) =>
    startMixer({
      REDIS_URL: redis.url,
      ZIPKIN_URL: sink.url,
      MIXER_CONFIG_DIR: cfg.dir,
      MIXER_ADMIN_TOKEN: TOKEN,
      MIXER_REPORT_BACKOFF_MS: '200',
      MIXER_REPORT_MAX_BACKOFF_MS: '4000',
      ...extra,
    });

  it('Zipkin down for 20 s then back: no span lost, retries visible in metrics', async () => {
    mixer = await start();
    await sink.stop();
    const reports = frontendToBackend(300, 3);
    for (const b of batches(reports, 100)) assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: b.map((r) => r.bag) })).status, 202);
    await waitFor('retries to show', async () => sumOf(await scrape(mixer!.url), 'mixer_queue_retries_total', { handler: 'default/zipkin' }) > 0, 10_000, 100);
    await new Promise((r) => setTimeout(r, 20_000)); // the outage itself: 20 s of refused connections
    await sink.start();
    const sampled = reports.filter((r) => r.sampled);
    await waitFor(
      'every sampled span after the sink came back',
      () => new Set((sink.received as Array<{ id: string }>).map((s) => s.id)).size === sampled.length,
      30_000,
      100,
    );
    const ids = new Set((sink.received as Array<{ id: string }>).map((s) => s.id));
    for (const r of sampled) assert.ok(ids.has(r.spanId), `span ${r.spanId} arrived`);
    const s = await scrape(mixer.url);
    assert.ok(sumOf(s, 'mixer_queue_retries_total', { handler: 'default/zipkin' }) >= 3);
    assert.equal(sumOf(s, 'mixer_dead_letters'), 0);
  });

  it('a sink answering 400 sends the work to dead letters; replay delivers it once the sink is fixed', async () => {
    mixer = await start({ MIXER_REPORT_ATTEMPTS: '3' });
    sink.status = 400;
    const reports = frontendToBackend(50, 5);
    assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: reports.map((r) => r.bag) })).status, 202);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const listed: any = await waitFor(
      'a dead letter',
      async () => {
        const r: any = await (await fetch(`${mixer!.url}/v1/deadletters/zipkin`, { headers: auth })).json();
        return r.count === 1 ? r : undefined;
      },
      20_000,
      100,
    );
    assert.equal(listed.items[0].bags, 50);
    assert.equal(listed.items[0].permanent, true);
    assert.match(listed.items[0].error, /400/);
    const one: any = await (await fetch(`${mixer.url}/v1/deadletters/zipkin/${listed.items[0].id}`, { headers: auth })).json();
    assert.equal(one.bags.length, 50);
    assert.equal(sumOf(await scrape(mixer.url), 'mixer_dead_letters', { handler: 'default/zipkin' }), 1);
    assert.equal((await fetch(`${mixer.url}/v1/deadletters/zipkin`)).status, 401, 'dead letters need the admin token');

    sink.status = 202;
    const replay = await postJson(`${mixer.url}/v1/deadletters/zipkin/replay`, {}, auth);
    assert.deepEqual(replay.body, { handler: 'default/zipkin', replayed: 1 });
    const sampled = reports.filter((r) => r.sampled);
    await waitFor('the replayed spans', () => sink.received.length >= sampled.length, 20_000, 100);
    assert.equal(sink.received.length, sampled.length);
    const after: any = await (await fetch(`${mixer.url}/v1/deadletters/zipkin`, { headers: auth })).json();
    assert.equal(after.count, 0);
  });

  it('Redis stopped: reports get 503 + Retry-After (never a 202), checks keep answering; Redis back: reports flow again', async () => {
    mixer = await start();
    const [first, second, third] = batches(frontendToBackend(90, 9), 30);
    assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: first.map((r) => r.bag) })).status, 202);
    await redis.stop();
    await waitFor('redis seen as down', async () => ((await (await fetch(`${mixer!.url}/readyz`)).json()) as any).redis === 'down', 10_000);
    const refused = await postJson(`${mixer.url}/v1/report`, { attributes: second.map((r) => r.bag) });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'MIXER_ERR_QUEUE_UNAVAILABLE');
    assert.ok(refused.headers.get('retry-after'));
    const check = await postJson(`${mixer.url}/v1/check`, { attributes: { 'destination.service.name': 'backend' } });
    assert.equal(check.status, 200);
    assert.equal(check.body.status.code, 0);
    assert.equal((await fetch(`${mixer.url}/readyz`)).status, 200, 'readiness does not depend on Redis');
    assert.equal(sumOf(await scrape(mixer.url), 'mixer_redis_up'), 0);

    await redis.start();
    await waitFor(
      'reports accepted again',
      async () => (await postJson(`${mixer!.url}/v1/report`, { attributes: third.map((r) => r.bag) })).status === 202,
      20_000,
      250,
    );
    const expected = [...first, ...third].filter((r) => r.sampled);
    await waitFor(
      'spans of every accepted batch',
      () => new Set((sink.received as Array<{ id: string }>).map((s) => s.id)).size >= expected.length,
      30_000,
      100,
    );
    const ids = new Set((sink.received as Array<{ id: string }>).map((s) => s.id));
    for (const r of expected) assert.ok(ids.has(r.spanId), 'every span of an accepted batch arrived');
    for (const r of second.filter((x) => x.sampled)) assert.ok(!ids.has(r.spanId), 'nothing of the refused batch was kept');
  });
});
