import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { applyToRecords, mergeObjects, parseApiRecords } from '../../../src/config/api-store';
import type { ApiRecord, ApiStore } from '../../../src/config/api-store';
import { DirApiStore } from '../../../src/config/dir-api-store';
import { RedisApiStore } from '../../../src/config/redis-api-store';
import { parseConfigText } from '../../../src/config/load';
import type { MixerError } from '../../../src/base/errors';
import { silentLogger } from '../../../src/base/log';
import { freePort } from '../../support/processes';
import { TestRedis } from '../../support/redis-server';
import { waitFor } from '../../support/wait';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const instance = (name: string, template = 'checknothing'): ApiRecord => ({
  key: `Instance/default/${name}`,
  text: `apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: ${name}}\nspec: {template: ${template}}\n`,
  updatedAt: '2026-01-02T03:04:05.000Z',
});

/** The behaviour both implementations share. */
function storeContract(make: () => ApiStore | Promise<ApiStore>): void {
  let store: ApiStore;
  beforeEach(async () => {
    store = await make();
  });
  afterEach(async () => {
    await store.close();
  });

  it('creates, replaces, lists and removes objects, the version moving with every write', async () => {
    const empty = await store.list();
    assert.equal(empty.records.size, 0);
    const a = await store.put(instance('a'));
    assert.ok(a.ok);
    assert.notEqual(a.version, empty.version);
    await store.put(instance('b'));
    await store.put({ ...instance('a', 'listentry'), updatedAt: '2026-02-03T04:05:06.000Z' });
    const all = await store.list();
    assert.deepEqual([...all.records.keys()].sort(), ['Instance/default/a', 'Instance/default/b']);
    assert.match(all.records.get('Instance/default/a')!.text, /template: listentry/, 'the text as it was sent, replaced');
    assert.equal(all.records.get('Instance/default/a')!.updatedAt, '2026-02-03T04:05:06.000Z');
    const removed = await store.remove('Instance/default/a');
    assert.ok(removed.ok);
    const after = await store.list();
    assert.deepEqual([...after.records.keys()], ['Instance/default/b']);
    assert.equal(after.version, removed.version);
  });

  it('refuses a write made against a version the store has moved past, and changes nothing', async () => {
    const v0 = (await store.list()).version;
    assert.ok((await store.put(instance('a'), v0)).ok);
    const stale = await store.put(instance('b'), v0);
    assert.equal(stale.ok, false);
    assert.equal((await store.remove('Instance/default/a', v0)).ok, false);
    assert.deepEqual([...(await store.list()).records.keys()], ['Instance/default/a']);
  });
}

describe('config/api-store', () => {
  describe('DirApiStore (embedded mode)', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-api-store-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    storeContract(() => new DirApiStore(path.join(dir, '.mixer-api')));

    it('keeps objects as files a new store (a restarted process) reads back, and ignores what it did not write', async () => {
      const location = path.join(dir, '.mixer-api');
      await new DirApiStore(location).put(instance('kept'));
      writeFileSync(path.join(location, 'notes.txt'), 'not an object');
      assert.deepEqual(readdirSync(location).sort(), ['Instance_default_kept.yaml', 'notes.txt']);
      const again = await new DirApiStore(location).list();
      assert.deepEqual([...again.records.keys()], ['Instance/default/kept']);
      assert.equal(again.records.get('Instance/default/kept')!.text, instance('kept').text);
    });
  });

  describe('RedisApiStore @redis', () => {
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    const redis = new Redis(REDIS_URL);
    const stores: RedisApiStore[] = [];
    const make = (client: Redis = redis, p = prefix): RedisApiStore => {
      const s = new RedisApiStore(client, p, silentLogger(), { connectWaitMs: 2000 });
      stores.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    });
    after(() => redis.quit());

    storeContract(() => make());

    it('keeps everything in one hash under the prefix', async () => {
      await make().put(instance('a'));
      assert.deepEqual(await redis.keys(`${prefix}*`), [`${prefix}{config}:objects`]);
      const fields = await redis.hkeys(`${prefix}{config}:objects`);
      assert.ok(fields.includes('Instance/default/a'));
    });

    it('tells every subscriber (another process) the new version of each write, on its own connection', async () => {
      const writer = make();
      const other = new Redis(REDIS_URL);
      try {
        const reader = make(other);
        const seen: (string | undefined)[] = [];
        reader.subscribe((v) => seen.push(v));
        await waitFor('the subscriber to connect (it says so: undefined)', () => seen.includes(undefined), 5000);
        const w = await writer.put(instance('a'));
        await waitFor('the notice of the write', () => seen.includes(w.version), 2000);
        const d = await writer.remove('Instance/default/a');
        await waitFor('the notice of the removal', () => seen.includes(d.version), 2000);
        assert.deepEqual((await reader.list()).records.size, 0);
      } finally {
        other.disconnect();
      }
    });

    it('says "changes may have been missed" again after a reconnect', async function () {
      this.timeout(30_000);
      const own = new TestRedis();
      await own.start();
      const client = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      client.on('error', () => undefined);
      try {
        const store = make(client, 'reconnect:');
        const seen: (string | undefined)[] = [];
        store.subscribe((v) => seen.push(v));
        await waitFor('first connect', () => seen.length > 0, 5000);
        await own.stop();
        const before = seen.length;
        await own.start();
        await waitFor('the notice after reconnecting', () => seen.length > before, 10_000, 50);
        assert.deepEqual(new Set(seen), new Set([undefined]), 'no version: the store must be read again');
        assert.ok((await store.put(instance('a'))).ok, 'writes work again');
      } finally {
        await Promise.all(stores.splice(0).map((s) => s.close()));
        client.disconnect();
        await own.cleanup();
      }
    });

    it('fails to read when Redis cannot be reached, after waiting for the first connection only once', async () => {
      const port = await freePort();
      const down = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 200 });
      down.on('error', () => undefined);
      try {
        const store = new RedisApiStore(down, prefix, silentLogger(), { connectWaitMs: 300 });
        await assert.rejects(store.list(), /did not become ready within 300 ms/);
        await assert.rejects(store.put(instance('a')), /^Error: redis is (connecting|reconnecting)/, 'later calls do not wait again');
      } finally {
        down.disconnect();
      }
    });
  });

  describe('helpers', () => {
    const file = parseConfigText(instance('shared').text, '/etc/mixer/a.yaml', {}).objects;

    it('parses records like files, naming the object in every problem', () => {
      const good = parseApiRecords([instance('a')]);
      assert.deepEqual(good.errors, []);
      assert.equal(good.objects[0].key, 'Instance/default/a');
      assert.equal(good.objects[0].source.file, 'api');
      const bad = parseApiRecords([
        { ...instance('b'), text: 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: b}\nspec:\n  template: 7\n' },
        { ...instance('c'), key: 'Instance/default/other' },
      ]);
      assert.equal(bad.objects.length, 0);
      assert.match(bad.errors[0].field, /^api:5 Instance\/default\/b/);
      assert.match(bad.errors[1].reason, /holds Instance\/default\/c, not Instance\/default\/other/);
    });

    it('takes records as written: ${VAR} is never expanded from the environment, and an unset one is no error', () => {
      process.env.MIXER_TEST_SECRET = 's3cret';
      try {
        const text = [
          'apiVersion: mixer/v1',
          'kind: Handler',
          'metadata: {name: leak}',
          'spec: {adapter: denier, params: {status: {code: 7, message: "${MIXER_TEST_SECRET} ${UNSET_VAR_FOR_TEST} $$"}}}',
          '',
        ].join('\n');
        const parsed = parseApiRecords([{ key: 'Handler/default/leak', text, updatedAt: 'x' }]);
        assert.deepEqual(parsed.errors, []);
        const spec = parsed.objects[0].doc.spec as { params: { status: { message: string } } };
        assert.equal(spec.params.status.message, '${MIXER_TEST_SECRET} ${UNSET_VAR_FOR_TEST} $$');
      } finally {
        delete process.env.MIXER_TEST_SECRET;
      }
    });

    it('keeps a file object as written beside its expanded form, for the API to show', () => {
      const text = 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: f}\nspec: {template: "${T:-checknothing}"}\n';
      const [o] = parseConfigText(text, '/etc/mixer/f.yaml', {}).objects;
      assert.equal((o.doc.spec as { template: string }).template, 'checknothing');
      assert.deepEqual((o.source.written as { spec: unknown }).spec, { template: '${T:-checknothing}' });
    });

    it('lets a file object win over an API object with the same key, and says where the file is', () => {
      const api = parseApiRecords([instance('shared'), instance('own')]).objects;
      const merged = mergeObjects(file, api);
      assert.deepEqual(
        merged.objects.map((o) => `${o.source.file} ${o.key}`),
        ['/etc/mixer/a.yaml Instance/default/shared', 'api Instance/default/own'],
      );
      assert.deepEqual(merged.shadowed, [{ key: 'Instance/default/shared', file: '/etc/mixer/a.yaml:1' }]);
    });

    it('refuses to change a file object (409) or to delete what nobody defines (404); a hidden API object may go', () => {
      const code = (fn: () => unknown): string => {
        try {
          fn();
        } catch (err) {
          return (err as MixerError).code;
        }
        return 'none';
      };
      const records = new Map<string, ApiRecord>();
      assert.equal(
        code(() => applyToRecords(records, file, { op: 'put', record: instance('shared') })),
        'MIXER_ERR_CONFLICT',
      );
      assert.equal(
        code(() => applyToRecords(records, file, { op: 'delete', key: 'Instance/default/shared' })),
        'MIXER_ERR_CONFLICT',
      );
      assert.equal(
        code(() => applyToRecords(records, file, { op: 'delete', key: 'Instance/default/nobody' })),
        'MIXER_ERR_NOT_FOUND',
      );
      assert.equal(applyToRecords(records, file, { op: 'put', record: instance('new') }), false);
      assert.equal(applyToRecords(records, file, { op: 'put', record: instance('new') }), true);
      records.set('Instance/default/shared', instance('shared'));
      assert.equal(applyToRecords(records, file, { op: 'delete', key: 'Instance/default/shared' }), true);
      assert.deepEqual([...records.keys()], ['Instance/default/new']);
    });
  });
});
