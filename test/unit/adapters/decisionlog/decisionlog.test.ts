import type { Registry } from 'prom-client';
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decisionlogAdapter } from '../../../../adapters/decisionlog';
import { resolveSettings } from '../../../../adapters/decisionlog/config';
import type { DecisionLogConfig } from '../../../../adapters/decisionlog/config';
import { maskRecord, parseMask } from '../../../../adapters/decisionlog/mask';
import { Sampler, mulberry32 } from '../../../../adapters/decisionlog/sampler';
import { FileSink } from '../../../../adapters/decisionlog/sinks';
import { BatchBuilder, JSON_ARRAY, JSON_LINES, batchOf } from '../../../../adapters/decisionlog/batch';
import { isoNow } from '../../../../src/runtime/decision-record';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteKeys } from '../../../support/redis-keys';
import { createAdapterEnv, runAdapterConformance, validateParams } from '../../../../src/sdk';
import type { DecisionRecord, Handler } from '../../../../src/sdk';
import { HttpSink } from '../../../support/http-sink';
import { waitFor } from '../../../support/wait';

function record(i: number, code = 0, extra: Partial<DecisionRecord> = {}): DecisionRecord {
  return Object.freeze({
    decisionId: `id-${i}`,
    time: new Date(1_800_000_000_000 + i).toISOString(),
    status: { code, message: code ? 'no' : '' },
    rules: ['default/r'],
    calls: [],
    referenced: [
      { name: 'source.labels', key: 'app', condition: 'EXACT' as const, value: 'frontend' },
      { name: 'request.headers', key: 'x-api-key', condition: 'EXACT' as const, value: 'k' },
    ],
    attributes: { 'source.labels': { app: 'frontend' }, 'source.ip': '10.0.0.1', 'request.headers': { 'x-api-key': 'k', accept: '*/*' } },
    caller: { app: 'frontend', ip: '10.0.0.1' },
    destination: { service: 'backend' },
    configGeneration: 1,
    durationMs: 0.1,
    validDuration: 1000,
    validUseCount: 10,
    ...extra,
  });
}

async function create(params: DecisionLogConfig): Promise<{ handler: Handler; dispose: () => void; registry: Registry }> {
  const v = validateParams(decisionlogAdapter, params, 'params');
  assert.deepEqual(v.errors, []);
  const owned = createAdapterEnv({ handlerName: 'default/decisions' });
  const handler = await decisionlogAdapter.create(v.config as DecisionLogConfig, owned.env);
  return { handler, dispose: () => owned.dispose(), registry: owned.env.registry };
}

describe('decisionlog adapter', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-decisionlog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  runAdapterConformance(decisionlogAdapter, {
    validParams: { sink: 'file', path: path.join(dir, 'conformance', 'd.log'), sample: 0.5, seed: 1, mask: ['source.ip', 'request.headers["x-api-key"]'] },
    invalidParams: [
      { sample: 2 },
      { sink: 'file' },
      { sink: 'http' },
      { sink: 'kafka' },
      { bufferSize: 0 },
      { flushInterval: 'soon' },
      { attributes: 'some' },
      { unknown: 1 },
    ],
    use: (h) => h.decision!(record(1, 7)),
  });

  it('samples with a seeded PRNG: the same seed keeps the same decisions; denials always', () => {
    const a = new Sampler(0.1, 42);
    const b = new Sampler(0.1, 42);
    const codes = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 7 : 0));
    const keptA = codes.map((c) => a.keep(c));
    assert.deepEqual(
      keptA,
      codes.map((c) => b.keep(c)),
    );
    assert.ok(
      keptA.every((k, i) => k || codes[i] === 0),
      'every denial kept',
    );
    const draw = mulberry32(42);
    let expected = 0;
    for (let i = 0; i < 900; i++) if (draw() < 0.1) expected++;
    assert.equal(keptA.filter((k, i) => k && codes[i] === 0).length, expected);
    assert.ok(expected > 60 && expected < 120);
    assert.equal(new Sampler(1).keep(0), true);
    assert.equal(new Sampler(0).keep(0), false);
    assert.equal(new Sampler(0).keep(14), true);
  });

  it('masks whole attributes, single keys, their referenced values and the caller fields they feed', () => {
    const m = maskRecord(record(1), parseMask(['source.ip', 'request.headers["X-Api-Key"]']));
    assert.equal(m.attributes!['source.ip'], '<masked>');
    assert.deepEqual(m.attributes!['request.headers'], { 'x-api-key': '<masked>', accept: '*/*' });
    assert.deepEqual(m.referenced[1], { name: 'request.headers', key: 'x-api-key', condition: 'EXACT', value: '<masked>' });
    assert.deepEqual(m.referenced[0].value, 'frontend');
    assert.deepEqual(m.caller, { app: 'frontend', ip: '<masked>' });
    const r = record(2);
    assert.equal(maskRecord(r, parseMask([])), r, 'nothing to mask: the record itself');
    assert.throws(() => parseMask(['request.headers[x]']), /params\.mask\[0\]/);
  });

  it('file sink rotates by size, keeping maxFiles old files', async () => {
    const file = path.join(dir, 'rot', 'd.log');
    const sink = await FileSink.open(file, 2048, 2);
    for (let i = 0; i < 40; i++) await sink.write(batchOf(sink.framing, [sink.encode(record(i))]));
    await sink.close();
    const files = readdirSync(path.dirname(file)).sort();
    assert.deepEqual(files, ['d.log', 'd.log.1', 'd.log.2']);
    const ids = (f: string) =>
      readFileSync(path.join(path.dirname(file), f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(JSON.parse(l).decisionId.slice(3)));
    for (const f of files) assert.ok(readFileSync(path.join(path.dirname(file), f)).length <= 2048, `${f} within maxBytes`);
    const all = [...ids('d.log.2'), ...ids('d.log.1'), ...ids('d.log')];
    assert.deepEqual(
      all,
      all.slice().sort((a, b) => a - b),
      'oldest in .2, newest in the live file',
    );
    assert.equal(all[all.length - 1], 39);
  });

  it('http sink posts batches in OPA decision-log shape; keeps the bag out unless attributes: all', async () => {
    const http = new HttpSink();
    await http.start();
    const { handler, dispose } = await create({ sink: 'http', url: http.url, batchSize: 3, flushInterval: '50ms' });
    try {
      for (let i = 0; i < 7; i++) handler.decision!(record(i, i === 2 ? 7 : 0));
      await waitFor('7 events', () => http.received.length === 7);
      assert.ok(http.requests >= 3, 'batches of at most 3');
      const e = http.received[2] as Record<string, any>;
      assert.equal(e.decision_id, 'id-2');
      assert.equal(e.path, 'mixer/check');
      assert.equal(e.timestamp, record(2).time);
      assert.deepEqual(e.result.status, { code: 7, message: 'no' });
      assert.deepEqual(e.requested_by, { app: 'frontend', ip: '10.0.0.1' });
      assert.equal(e.input, undefined, 'attributes: referenced by default');
      assert.equal(e.labels.handler, 'default/decisions');
      assert.equal(typeof e.metrics.timer_mixer_check_ns, 'number');
    } finally {
      await handler.close!();
      dispose();
      await http.stop();
    }
  });

  it('never blocks: a full buffer drops new records and counts them; a failing sink counts its batches', async () => {
    const http = new HttpSink();
    await http.start();
    http.status = 500;
    const { handler, dispose, registry } = await create({ sink: 'http', url: http.url, bufferSize: 5, batchSize: 100, flushInterval: '1h' });
    try {
      for (let i = 0; i < 12; i++) handler.decision!(record(i, 7));
      const text = await registry.metrics();
      assert.match(text, /mixer_decisionlog_records_total\{handler="default\/decisions",result="dropped"\} 7/);
      await handler.close!(); // writes what is buffered: the sink answers 500
      assert.match(await registry.metrics(), /result="failed"\} 5/);
    } finally {
      dispose();
      await http.stop();
    }
  });

  it('redis sink needs Redis: create fails clearly without it', async () => {
    const owned = createAdapterEnv({ handlerName: 'default/d' });
    await assert.rejects(Promise.resolve(decisionlogAdapter.create({ sink: 'redis' }, owned.env)), /needs Redis/);
    owned.dispose();
    assert.equal(resolveSettings({}).sink, 'stdout');
  });
  it('batches frame records as a JSON array or as lines, in UTF-8, growing past their first size', () => {
    const texts = ['{"a":"é"}', '{"b":"𝄞 \\u0000"}', JSON.stringify({ c: 'x'.repeat(5000) })];
    const arr = new BatchBuilder(JSON_ARRAY, 16); // far too small: grows
    for (const t of texts) arr.add(t);
    assert.equal(arr.count, 3);
    const a = arr.seal();
    assert.equal(a.count, 3);
    assert.deepEqual(
      JSON.parse(a.data.toString('utf8')),
      texts.map((t) => JSON.parse(t)),
    );
    assert.equal(a.data.length, Buffer.byteLength(`[${texts.join(',')}]`));
    const lines = batchOf(JSON_LINES, texts);
    assert.equal(lines.data.toString('utf8'), `${texts.join('\n')}\n`);
    assert.equal(batchOf(JSON_ARRAY, []).data.toString(), '[]');
    assert.equal(batchOf(JSON_LINES, []).data.length, 0);
    // A reused buffer (a written batch's storage) is filled from its start.
    const reused = new BatchBuilder(JSON_ARRAY, 8, a.storage);
    reused.add('1');
    assert.equal(reused.seal().data.toString(), '[1]');
  });

  it('records keep the runtime time format: isoNow matches Date.toISOString', () => {
    for (const t of [0, 999, 1_000, 1_800_000_000_005, 1_800_000_000_050, 1_800_000_000_500, 1_800_000_001_000, Date.now()]) {
      assert.equal(isoNow(t), new Date(t).toISOString());
    }
    assert.equal(isoNow(1_800_000_000_123), isoNow(1_800_000_000_123), 'same second, cached prefix');
    assert.equal(isoNow(8.64e15), new Date(8.64e15).toISOString(), 'past year 9999: not cached');
  });

  it('close() writes every record taken, including batches sealed while a write is in flight', async () => {
    const http = new HttpSink();
    await http.start();
    http.delayMs = 50;
    const { handler, dispose, registry } = await create({ sink: 'http', url: http.url, batchSize: 4, flushInterval: '1h' });
    try {
      for (let i = 0; i < 10; i++) handler.decision!(record(i, i % 3 === 0 ? 7 : 0));
      // The first full batch goes out on the next turn and takes 50 ms; the rest are taken meanwhile.
      await new Promise((r) => setTimeout(r, 10));
      for (let i = 10; i < 19; i++) handler.decision!(record(i));
      await handler.close!();
      const ids = http.received.map((e) => (e as { decision_id: string }).decision_id);
      assert.deepEqual(
        ids,
        Array.from({ length: 19 }, (_, i) => `id-${i}`),
        'every record, in order, once',
      );
      assert.ok(http.requests >= 5, `batches of at most 4: ${http.requests} POSTs`);
      assert.match(await registry.metrics(), /result="written"\} 19/);
      handler.decision!(record(99));
      assert.equal(http.received.length, 19, 'nothing taken after close');
    } finally {
      dispose();
      await http.stop();
    }
  });

  it('a full buffer drops only what does not fit; the records taken are still written', async () => {
    const file = path.join(dir, 'overflow', 'd.log');
    const { handler, dispose, registry } = await create({ sink: 'file', path: file, bufferSize: 8, batchSize: 3, flushInterval: '1h' });
    try {
      // Synchronously, no write can start: 8 records fit, 4 are dropped.
      for (let i = 0; i < 12; i++) handler.decision!(record(i, 7));
      assert.match(await registry.metrics(), /result="dropped"\} 4/);
      await handler.close!();
      const ids = readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).decisionId);
      assert.deepEqual(
        ids,
        Array.from({ length: 8 }, (_, i) => `id-${i}`),
      );
      assert.match(await registry.metrics(), /result="written"\} 8/);
    } finally {
      dispose();
    }
  });

  describe('redis sink @redis', () => {
    const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    let redis: Redis;
    before(() => {
      redis = new Redis(REDIS_URL);
    });
    after(async () => {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    });

    it('writes one capped stream entry per batch: n records, d their JSON array; the bag only with attributes: all', async () => {
      const owned = createAdapterEnv({ handlerName: 'default/decisions', redis, keyPrefix: prefix });
      const v = validateParams(decisionlogAdapter, { sink: 'redis', batchSize: 5, flushInterval: '1h', maxLen: 100 }, 'params');
      const handler = await decisionlogAdapter.create(v.config as DecisionLogConfig, owned.env);
      try {
        for (let i = 0; i < 12; i++) handler.decision!(record(i, i === 4 ? 7 : 0, { rules: [`default/r${i}`] }));
        await handler.close!();
        const entries = await redis.xrange(`${prefix}h:default/decisions:decisions`, '-', '+');
        assert.deepEqual(
          entries.map(([, f]) => f[f.indexOf('n') + 1]),
          ['5', '5', '2'],
        );
        const records = entries.flatMap(([, f]) => JSON.parse(f[f.indexOf('d') + 1]) as Array<Record<string, unknown>>);
        assert.equal(records.length, 12);
        const { attributes: _bag, ...expected } = record(4, 7, { rules: ['default/r4'] });
        assert.deepEqual(records[4], JSON.parse(JSON.stringify(expected)), 'every field but the bag');
        assert.equal(records[4].attributes, undefined);
      } finally {
        owned.dispose();
      }
    });
  });
});
