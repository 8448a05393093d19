import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { deleteKeys } from '../support/redis-keys';
import { runMixctl } from '../support/mixctl';
import { parsePromText, sumOf } from '../support/prom-text';
import { waitFor } from '../support/wait';
import { mulberry32 } from '../../adapters/decisionlog/sampler';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const handlerYaml = (params: Record<string, unknown>): string =>
  `apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: decisions, namespace: default}\nspec:\n  adapter: decisionlog\n  params: ${JSON.stringify(params)}\n`;

const body = (dst: string, i: number) => ({
  attributes: {
    'source.labels': { app: 'frontend' },
    'source.ip': '10.0.0.7',
    'destination.service.name': dst,
    'request.path': `/${dst}/${i}`,
    'request.headers': { authorization: 'Bearer caller-secret', 'x-api-key': 'k-123', 'x-request-id': `r${i}` },
  },
});

/** Sends the checks, `concurrency` at a time; returns the status codes answered. */
async function sendChecks(url: string, bodies: unknown[], concurrency = 16): Promise<number[]> {
  const codes: number[] = new Array(bodies.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const i = next++;
        const r = await postJson(`${url}/v1/check`, bodies[i]);
        assert.equal(r.status, 200);
        codes[i] = r.body.status.code;
      }
    }),
  );
  return codes;
}

async function counts(url: string): Promise<Record<string, number>> {
  const fams = parsePromText(await (await fetch(`${url}/metrics`)).text());
  const out: Record<string, number> = {};
  for (const result of ['written', 'sampled_out', 'dropped', 'failed'])
    out[result] = sumOf(fams, 'mixer_decisionlog_records_total', { handler: 'default/decisions', result });
  return out;
}

describe('decisionlog adapter (real processes)', function () {
  this.timeout(90_000);

  describe('file sink, sample 0.1, seeded', () => {
    let cfg: TempConfigDir;
    let mixer: MixerProcess;
    const SEED = 20261205;

    before(async () => {
      cfg = new TempConfigDir();
      cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
      cfg.write(
        'decisions.yaml',
        handlerYaml({
          sink: 'file',
          path: path.join(cfg.dir, 'out', 'decisions.log'),
          sample: 0.1,
          seed: SEED,
          mask: ['request.headers["x-api-key"]', 'source.ip'],
          attributes: 'all',
          flushInterval: '100ms',
        }),
      );
      mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '' });
    });
    after(async () => {
      await mixer?.stop();
      cfg?.cleanup();
    });

    it('1,000 checks with 100 denials: every denial and exactly the seeded ~10% of the rest, masked', async () => {
      const bodies = Array.from({ length: 1000 }, (_, i) => (i % 10 === 3 ? body('backend', i) : body('reviews', i)));
      const codes = await sendChecks(mixer.url, bodies);
      assert.equal(codes.filter((c) => c === 7).length, 100);
      // One PRNG draw per allowed decision, in the order they were decided: the count kept is exact.
      const draw = mulberry32(SEED);
      let keptAllowed = 0;
      for (let i = 0; i < 900; i++) if (draw() < 0.1) keptAllowed++;
      assert.ok(keptAllowed > 60 && keptAllowed < 120, `about 10%: ${keptAllowed}`);

      const file = path.join(cfg.dir, 'out', 'decisions.log');
      const lines = await waitFor(
        `${100 + keptAllowed} records in the file`,
        () => {
          if (!existsSync(file)) return undefined;
          const l = readFileSync(file, 'utf8').split('\n').filter(Boolean);
          return l.length >= 100 + keptAllowed ? l : undefined;
        },
        10_000,
        50,
      );
      const c = await counts(mixer.url);
      assert.deepEqual(c, { written: 100 + keptAllowed, sampled_out: 900 - keptAllowed, dropped: 0, failed: 0 });
      const records = lines.map((l) => JSON.parse(l));
      assert.equal(records.length, 100 + keptAllowed);
      const denied = records.filter((r) => r.status.code === 7);
      assert.equal(denied.length, 100);
      assert.equal(new Set(records.map((r) => r.decisionId)).size, records.length);
      for (const r of denied) {
        assert.equal(r.decidedBy.rule, 'default/deny-frontend-to-backend');
        assert.equal(r.decidedBy.handler, 'default/deny-all');
        assert.equal(r.attributes['destination.service.name'], 'backend');
        assert.deepEqual(r.caller, { app: 'frontend', ip: '<masked>' }, 'caller identity, with the masked ip');
      }
      for (const r of records) {
        const h = r.attributes['request.headers'];
        assert.equal(h.authorization, '<masked>', 'credential headers always masked');
        assert.equal(h['x-api-key'], '<masked>', 'mask: request.headers["x-api-key"]');
        assert.equal(h['x-request-id'].startsWith('r'), true, 'other headers kept');
        assert.equal(r.attributes['source.ip'], '<masked>', 'mask: source.ip');
        assert.equal(typeof r.configGeneration, 'number');
        assert.ok(Array.isArray(r.referenced) && r.referenced.length > 0);
      }
    });
  });

  describe('redis stream sink and mixctl decisions', () => {
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    let cfg: TempConfigDir;
    let mixer: MixerProcess;

    before(async () => {
      cfg = new TempConfigDir();
      cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
      cfg.write('decisions.yaml', handlerYaml({ sink: 'redis', sample: 1, maxLen: 1000, flushInterval: '100ms', batchSize: 4 }));
      mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL, MIXER_KEY_PREFIX: prefix });
      await redis.connect();
    });
    after(async () => {
      await mixer?.stop();
      await deleteKeys(redis, prefix);
      redis.disconnect();
      cfg?.cleanup();
    });

    it('keeps every decision in the capped stream; mixctl decisions --denied lists the denials', async () => {
      const bodies = Array.from({ length: 30 }, (_, i) => (i % 6 === 0 ? body('backend', i) : body('reviews', i)));
      await sendChecks(mixer.url, bodies, 4);
      const key = `${prefix}h:default/decisions:decisions`;
      await waitFor(
        '30 records in the stream',
        async () => {
          const entries = await redis.xrange(key, '-', '+');
          return entries.reduce((n, [, fields]) => n + Number(fields[fields.indexOf('n') + 1]), 0) === 30;
        },
        10_000,
      );

      const env = { REDIS_URL, MIXER_KEY_PREFIX: prefix };
      const json = await runMixctl(['decisions', '--since', '10m', '--denied', '-o', 'json'], env);
      assert.equal(json.code, 0, json.output);
      const denials = JSON.parse(json.stdout) as Array<{ status: { code: number }; attributes?: Record<string, string>; decidedBy: { rule: string } }>;
      assert.equal(denials.length, 5);
      assert.ok(denials.every((d) => d.status.code === 7 && d.decidedBy.rule === 'default/deny-frontend-to-backend'));
      assert.ok(
        denials.every((d) => d.attributes === undefined),
        'attributes: referenced (the default) keeps the bag out',
      );
      assert.deepEqual(
        denials.map((d: any) => d.referenced.map((x: any) => `${x.name}${x.key ? `[${x.key}]` : ''}=${x.value}`).sort()),
        Array(5).fill(['destination.service.name=backend', 'source.labels[app]=frontend']),
      );
      assert.ok(denials.every((d: any) => d.destination.service === 'backend' && d.caller.app === 'frontend' && d.caller.ip === '10.0.0.7'));

      const table = await runMixctl(['decisions', '--since', '10m', '--rule', 'deny-frontend-to-backend'], env);
      assert.equal(table.code, 0, table.output);
      assert.equal(table.stdout.trim().split('\n').length, 1 + 5, table.stdout);
      assert.match(table.stdout, /frontend → backend\s+7\s+frontend may not call backend\s+default\/deny-frontend-to-backend/);

      const all = await runMixctl(['decisions', '--since', '10m', '-o', 'json'], env);
      assert.equal(JSON.parse(all.stdout).length, 30);
    });
  });
});
