import { strict as assert } from 'node:assert';
import { Bag } from '../../../src/attributes/bag';
import { parseConfigText } from '../../../src/config/load';
import { compileConfig } from '../../../src/config/compile';
import { buildSnapshot } from '../../../src/runtime/snapshot';
import type { Snapshot } from '../../../src/runtime/snapshot';
import { runCheck } from '../../../src/policy/check';
import type { CheckAnswer, CheckRequest } from '../../../src/policy/check';
import { SelfMetrics } from '../../../src/metrics/self-metrics';
import { ThrottledLog } from '../../../src/base/throttled-log';
import { silentLogger } from '../../../src/base/log';
import type { AdapterFactory, CheckResult } from '../../../src/sdk/adapter';

/** Test adapters: answer what their params say, throw, hang, or count quota. */
const answer: AdapterFactory<CheckResult & { mode?: string }> = {
  name: 'answer',
  templates: ['checknothing', 'listentry', 'quota'],
  configSchema: { type: 'object' },
  create: (cfg) => ({
    check: () => {
      if (cfg.mode === 'throw') throw new Error('boom');
      if (cfg.mode === 'hang') return new Promise<CheckResult>(() => undefined);
      if (cfg.mode === 'async') return Promise.resolve(cfg);
      return cfg;
    },
    quota: (_i, args) => ({ grantedAmount: Math.min(args.amount, cfg.validUseCount ?? 0), validDuration: cfg.validDuration ?? 1000 }),
  }),
};
const adapters = new Map([[answer.name, answer]]);

const MANIFEST = `apiVersion: mixer/v1
kind: AttributeManifest
metadata: {name: m}
spec:
  attributes:
    source.labels: {valueType: STRING_MAP}
    destination.service.name: {valueType: STRING}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: q}
spec: {template: quota, params: {dimensions: {d: destination.service.name | "none"}}}
`;

function handler(name: string, params: object): string {
  return `---\napiVersion: mixer/v1\nkind: Handler\nmetadata: {name: ${name}}\nspec: {adapter: answer, params: ${JSON.stringify(params)}}\n`;
}
function rule(name: string, h: string, inst = 'nothing', match?: object): string {
  return `---\napiVersion: mixer/v1\nkind: Rule\nmetadata: {name: ${name}}\nspec: {${match ? `match: ${JSON.stringify(match)}, ` : ''}actions: [{handler: ${h}, instances: [${inst}]}]}\n`;
}

async function snapshotOf(text: string): Promise<Snapshot> {
  const loaded = parseConfigText(MANIFEST + text, 't.yaml', {});
  assert.deepEqual(loaded.errors, []);
  const c = compileConfig(loaded.objects, adapters);
  assert.deepEqual(c.errors, []);
  return buildSnapshot(c.plan!, { generation: 3, epoch: 'test' }, { logger: silentLogger(), metrics: new SelfMetrics({ processMetrics: false }) });
}

const opts = { timeoutMs: 50, log: new ThrottledLog(silentLogger()) };
async function check(s: Snapshot, attrs: Record<string, unknown>, extra: Partial<CheckRequest> = {}): Promise<CheckAnswer> {
  return runCheck(s, { bag: Bag.trusted(attrs as never), ...extra }, opts);
}

describe('policy/check', () => {
  it('answers OK with the defaults (60s, 10000) and the generation when no rule matches', async () => {
    const s = await snapshotOf(
      handler('deny', { status: { code: 7 } }) +
        rule('r', 'deny', 'nothing', { all: [{ fact: 'destination.service.name', operator: 'equal', value: 'backend' }] }),
    );
    const a = await check(s, { 'destination.service.name': 'other' });
    assert.deepEqual(a.status, { code: 0, message: '' });
    assert.equal(a.validDuration, 60_000);
    assert.equal(a.validUseCount, 10_000);
    assert.equal(a.configGeneration, 3);
    assert.deepEqual(a.referencedAttributes, [{ name: 'destination.service.name', condition: 'EXACT' }]);
  });

  it('first non-OK status in rule order wins; smallest validDuration and validUseCount over all answers', async () => {
    const s = await snapshotOf(
      handler('ok-short', { status: { code: 0 }, validDuration: 2000, validUseCount: 50 }) +
        handler('perm', { status: { code: 7, message: 'no' }, validDuration: 9000, validUseCount: 900 }) +
        handler('precond', { status: { code: 9, message: 'later' }, validDuration: 30000, validUseCount: 5 }) +
        rule('c-precond', 'precond') +
        rule('a-ok', 'ok-short') +
        rule('b-perm', 'perm'),
    );
    const a = await check(s, {});
    assert.deepEqual(a.status, { code: 7, message: 'no' });
    assert.equal(a.validDuration, 2000);
    assert.equal(a.validUseCount, 5);
  });

  it('a handler that throws or times out answers UNAVAILABLE with validDuration 0, without stopping the others', async () => {
    const s = await snapshotOf(
      handler('boom', { mode: 'throw' }) +
        handler('slow', { mode: 'hang' }) +
        handler('fine', { mode: 'async', status: { code: 0 } }) +
        rule('a', 'boom') +
        rule('b', 'slow') +
        rule('c', 'fine'),
    );
    const a = await check(s, {});
    assert.equal(a.status.code, 14);
    assert.match(a.status.message!, /handler default\/boom failed: boom/);
    assert.equal(a.validDuration, 0);
    const only = await snapshotOf(handler('slow', { mode: 'hang' }) + rule('b', 'slow'));
    const t = await check(only, {});
    assert.equal(t.status.code, 14);
    assert.match(t.status.message!, /timed out after 50 ms/);
  });

  it('referencedAttributes lists map keys read and absent attributes', async () => {
    const s = await snapshotOf(
      handler('deny', { status: { code: 7 } }) +
        rule('r', 'deny', 'nothing', {
          any: [
            { fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' },
            { fact: 'destination.service.name', operator: 'equal', value: 'x' },
          ],
        }),
    );
    const a = await check(s, { 'source.labels': { app: 'web' } });
    assert.equal(a.status.code, 0);
    const refs = a.referencedAttributes.map((r) => `${r.name}${r.key ? `[${r.key}]` : ''}:${r.condition}`).sort();
    assert.deepEqual(refs, ['destination.service.name:ABSENCE', 'source.labels[app]:EXACT']);
  });

  it('charges 1 to every selected quota when none are asked, and exactly the named ones otherwise', async () => {
    const s = await snapshotOf(handler('lim', { validUseCount: 3, validDuration: 1500 }) + rule('q', 'lim', 'q'));
    const implicit = await check(s, { 'destination.service.name': 'b' });
    assert.deepEqual(implicit.quotas, { q: { grantedAmount: 1, validDuration: 1500 } });
    assert.equal(implicit.validUseCount, 1, 'a verdict that charged a quota covers one use');
    const asked = await check(s, {}, { quotas: { q: { amount: 5 } } });
    assert.equal(asked.status.code, 8);
    assert.deepEqual(asked.quotas, { q: { grantedAmount: 3, validDuration: 1500 } });
    const best = await check(s, {}, { quotas: { q: { amount: 5, bestEffort: true } } });
    assert.equal(best.status.code, 0);
    await assert.rejects(async () => check(s, {}, { quotas: { nope: { amount: 1 } } }), /unknown quota "nope"/);
  });
});
