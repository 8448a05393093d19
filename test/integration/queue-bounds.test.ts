import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { startMixer, postJson, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { TestRedis } from '../support/redis-server';
import { parsePromText, sumOf } from '../support/prom-text';
import { frontendToBackend } from '../support/traffic';
import { waitFor } from '../support/wait';

const TOKEN = 'test-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };

async function scrape(url: string) {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

describe('queue bounds: dead letters capped and paged, a removed handler’s batches removed', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let client: Redis;
  let sink: HttpSink;
  let cfg: TempConfigDir;
  let mixer: MixerProcess | undefined;

  beforeEach(async () => {
    redis = new TestRedis();
    await redis.start();
    client = new Redis(redis.url);
    sink = new HttpSink();
    await sink.start();
    cfg = new TempConfigDir();
    copyFileSync(path.join(REPO, 'rules', 'tracing.yaml'), path.join(cfg.dir, 'tracing.yaml'));
  });
  afterEach(async () => {
    await mixer?.stop();
    mixer = undefined;
    client.disconnect();
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
      MIXER_REPORT_MAX_BACKOFF_MS: '2000',
      ...extra,
    });

  it('keeps at most MIXER_DEAD_LETTER_MAX_COUNT dead letters per handler, counts the rest, and lists them a page at a time', async () => {
    mixer = await start({ MIXER_REPORT_ATTEMPTS: '1', MIXER_DEAD_LETTER_MAX_COUNT: '3' });
    sink.status = 400;
    for (let i = 0; i < 6; i++)
      assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: frontendToBackend(5, i + 1).map((r) => r.bag) })).status, 202);
    await waitFor(
      '3 dead letters dropped',
      async () => sumOf(await scrape(mixer!.url), 'mixer_dead_letters_dropped_total', { reason: 'count' }) === 3,
      30_000,
      100,
    );
    const s = await scrape(mixer.url);
    assert.equal(sumOf(s, 'mixer_dead_letters', { handler: 'default/zipkin' }), 3);
    const first: any = await (await fetch(`${mixer.url}/v1/deadletters/zipkin?limit=2`, { headers: auth })).json();
    assert.equal(first.count, 3);
    assert.equal(first.items.length, 2);
    assert.equal(typeof first.next, 'string');
    assert.equal(first.items[0].bags, 5);
    const second: any = await (await fetch(`${mixer.url}/v1/deadletters/zipkin?limit=2&cursor=${encodeURIComponent(first.next)}`, { headers: auth })).json();
    assert.equal(second.items.length, 1);
    assert.equal(second.next, undefined);
    assert.equal(new Set([...first.items, ...second.items].map((d: any) => d.id)).size, 3);
    for (const q of ['limit=5000', 'cursor=nonsense']) {
      const bad = await fetch(`${mixer.url}/v1/deadletters/zipkin?${q}`, { headers: auth });
      assert.equal(bad.status, 400, q);
      assert.equal(((await bad.json()) as any).error.code, 'MIXER_ERR_BAD_REQUEST');
    }
    const ttl = await client.pttl('mixer:{dlq:default/zipkin}');
    assert.ok(ttl > 6 * 24 * 3_600_000, `dead letters expire (TTL ${ttl} ms)`);
  });

  it('removes the queued batches of a handler that left the config once the grace period is over, counted', async () => {
    mixer = await start({ MIXER_REMOVED_HANDLER_GRACE_MS: '1500' });
    await sink.stop();
    for (let i = 0; i < 4; i++)
      assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: frontendToBackend(5, i + 1).map((r) => r.bag) })).status, 202);
    await waitFor('retries', async () => sumOf(await scrape(mixer!.url), 'mixer_queue_retries_total', { handler: 'default/zipkin' }) > 0, 20_000, 100);
    const batchTtl = await client.pttl((await keysMatching(client, 'mixer:{q*}:batch:*'))[0]);
    assert.ok(batchTtl > 24 * 3_600_000, `stored batches have a TTL (${batchTtl} ms)`);
    const generation = sumOf(await scrape(mixer.url), 'mixer_config_generation');
    cfg.remove('tracing.yaml');
    await waitFor('the config without zipkin', async () => sumOf(await scrape(mixer!.url), 'mixer_config_generation') !== generation, 20_000, 100);
    await waitFor(
      'the 4 batches removed',
      async () => sumOf(await scrape(mixer!.url), 'mixer_queue_discarded_total', { handler: 'default/zipkin', reason: 'handler_removed' }) === 4,
      30_000,
      200,
    );
    await waitFor('the bags deleted from Redis', async () => (await keysMatching(client, 'mixer:{q*}:batch:*')).length === 0, 20_000, 200);
    await waitFor('the handler forgotten', async () => (await client.sismember('mixer:queue-handlers', 'default/zipkin')) === 0, 20_000, 200);
    assert.equal(sumOf(await scrape(mixer.url), 'mixer_dead_letters'), 0, 'removed, not dead-lettered');
  });

  it('embedded queue: holds a removed handler’s batches for the grace period, then removes them, counted', async () => {
    mixer = await startMixer({
      ZIPKIN_URL: sink.url,
      MIXER_CONFIG_DIR: cfg.dir,
      MIXER_ADMIN_TOKEN: TOKEN,
      MIXER_REPORT_BACKOFF_MS: '200',
      MIXER_REPORT_MAX_BACKOFF_MS: '1000',
      MIXER_REMOVED_HANDLER_GRACE_MS: '1500',
    });
    await sink.stop();
    for (let i = 0; i < 4; i++)
      assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: frontendToBackend(5, i + 1).map((r) => r.bag) })).status, 202);
    await waitFor('retries', async () => sumOf(await scrape(mixer!.url), 'mixer_queue_retries_total', { handler: 'default/zipkin' }) > 0, 20_000, 100);
    cfg.remove('tracing.yaml');
    await waitFor(
      'the 4 batches removed',
      async () => sumOf(await scrape(mixer!.url), 'mixer_queue_discarded_total', { handler: 'default/zipkin', reason: 'handler_removed' }) === 4,
      30_000,
      200,
    );
    const s = await scrape(mixer.url);
    assert.equal(sumOf(s, 'mixer_dead_letters'), 0, 'removed, not dead-lettered');
    assert.equal(sumOf(s, 'mixer_queue_depth'), 0, 'nothing left queued');
  });
});
