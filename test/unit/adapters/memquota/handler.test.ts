import assert from 'node:assert/strict';
import { memquotaAdapter } from '../../../../adapters/memquota';
import { resolveMemQuotaConfig } from '../../../../adapters/memquota/config';
import type { MemQuotaConfig } from '../../../../adapters/memquota/config';
import { MemQuotaHandler } from '../../../../adapters/memquota/handler';
import type { MemQuotaOptions } from '../../../../adapters/memquota/handler';
import { Code } from '../../../../src/sdk/adapter';
import type { InstanceValue, QuotaArgs } from '../../../../src/sdk/adapter';
import { runAdapterConformance, waitFor } from '../../../../src/sdk/conformance';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { OwnedAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';

const inst = (dimensions: Record<string, unknown> = {}, name = 'default/requestcount'): InstanceValue => ({ name, template: 'quota', fields: { dimensions } });
const ask = (amount: number, more: Partial<QuotaArgs> = {}): QuotaArgs => ({ amount, bestEffort: false, dedupId: '', ...more });

runAdapterConformance(memquotaAdapter, {
  validParams: { quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }] },
  invalidParams: [
    { quotas: [{ name: 'q' }] },
    { quotas: [{ name: 'q', maxAmount: 1, validDuration: 'x' }] },
    { minDeduplicationDuration: 5 },
    { quotas: [{ name: 'q', maxAmount: 1, overrides: [{ dimensions: { a: 'b' } }] }] },
    { quota: [] },
  ],
  use: async (h) => void (await h.quota!(inst(), ask(1))),
});

describe('memquota adapter', () => {
  const envs: OwnedAdapterEnv[] = [];
  const handlers: MemQuotaHandler[] = [];
  let clock = 1_000_000;
  beforeEach(() => {
    clock = 1_000_000;
  });
  afterEach(() => {
    for (const h of handlers.splice(0)) h.close();
    for (const e of envs.splice(0)) e.dispose();
  });

  function config(params: unknown): MemQuotaConfig {
    const r = validateParams(memquotaAdapter, params, 'params');
    assert.deepEqual(r.errors, []);
    return r.config as MemQuotaConfig;
  }
  function handler(params: unknown, opts: MemQuotaOptions = {}): MemQuotaHandler {
    const owned = createAdapterEnv({ handlerName: 'default/memquota' });
    envs.push(owned);
    const h = new MemQuotaHandler(resolveMemQuotaConfig(config(params)), owned.env, { now: () => clock, ...opts });
    handlers.push(h);
    return h;
  }
  const granted = (h: MemQuotaHandler, d: Record<string, unknown> = {}, a = ask(1)): number => h.quota(inst(d), a).grantedAmount;

  it('grants 10 per window, denies the 11th with RESOURCE_EXHAUSTED, refills after the window', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }] });
    for (let i = 0; i < 10; i++) assert.deepEqual(h.quota(inst(), ask(1)), { grantedAmount: 1, validDuration: 1000 });
    assert.deepEqual(h.quota(inst(), ask(1)), {
      grantedAmount: 0,
      validDuration: 1000,
      status: { code: Code.RESOURCE_EXHAUSTED, message: 'quota requestcount is exhausted' },
    });
    clock += 999;
    assert.equal(granted(h), 0, 'still the same window');
    clock += 1;
    assert.equal(granted(h, {}, ask(10)), 10, 'a new window');
  });

  it('keeps one window per distinct dimension set, whatever the key order', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 2, validDuration: '1s' }] });
    assert.equal(granted(h, { src: 'a', dst: 'b' }, ask(2)), 2);
    assert.equal(granted(h, { dst: 'b', src: 'a' }), 0);
    assert.equal(granted(h, { src: 'c', dst: 'b' }, ask(2)), 2);
  });

  it('applies the first matching override, with its own window, comparing values as text', () => {
    const h = handler({
      quotas: [
        {
          name: 'requestcount',
          maxAmount: 5,
          validDuration: '1s',
          overrides: [
            { dimensions: { source: 'batch', code: '503' }, maxAmount: 1 },
            { dimensions: { source: 'batch' }, maxAmount: 2, validDuration: '10s' },
          ],
        },
      ],
    });
    assert.equal(granted(h, { source: 'batch', code: 503 }, ask(5, { bestEffort: true })), 1);
    assert.equal(granted(h, { source: 'batch', code: 200 }, ask(5, { bestEffort: true })), 2);
    assert.equal(h.quota(inst({ source: 'batch' }), ask(1)).validDuration, 10_000);
    assert.equal(granted(h, { source: 'web' }, ask(5)), 5);
    clock += 1000;
    assert.equal(granted(h, { source: 'batch', code: 200 }), 0, 'override window of 10s has not ended');
    assert.equal(granted(h, { source: 'web' }), 1);
  });

  it('bestEffort grants what remains; without it, nothing', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }] });
    assert.equal(granted(h, {}, ask(7)), 7);
    assert.equal(granted(h, {}, ask(5)), 0);
    assert.deepEqual(h.quota(inst(), ask(5, { bestEffort: true })), { grantedAmount: 3, validDuration: 1000 });
    assert.equal(h.quota(inst(), ask(1, { bestEffort: true })).status?.code, Code.RESOURCE_EXHAUSTED);
  });

  it('a repeated dedupId within minDeduplicationDuration gets the earlier answer without charge', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 3, validDuration: '1m' }], minDeduplicationDuration: '2s' });
    assert.equal(granted(h, {}, ask(2, { dedupId: 'req-1' })), 2);
    assert.equal(granted(h, {}, ask(2, { dedupId: 'req-1' })), 2, 'same answer');
    assert.equal(granted(h, {}, ask(1)), 1, 'the retry was not charged');
    assert.equal(granted(h, { other: 'x' }, ask(3, { dedupId: 'req-1' })), 3, 'dedup is per dimension set');
    clock += 2000;
    assert.equal(granted(h, {}, ask(2, { dedupId: 'req-1' })), 0, 'after minDeduplicationDuration it is a new request');
  });

  it('validDuration 0s (the default) never refills', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 2 }] });
    assert.deepEqual(h.quota(inst(), ask(2)), { grantedAmount: 2, validDuration: 0 });
    clock += 365 * 24 * 3600 * 1000;
    h.sweep();
    assert.equal(granted(h), 0);
  });

  it('matches `namespace/name` exactly or the short name; an unconfigured quota grants 0 with INVALID_ARGUMENT', () => {
    const h = handler({
      quotas: [
        { name: 'requestcount', maxAmount: 1, validDuration: '1s' },
        { name: 'ns1/special', maxAmount: 1, validDuration: '1s' },
      ],
    });
    assert.equal(h.quota(inst({}, 'istio-system/requestcount'), ask(1)).grantedAmount, 1);
    assert.equal(h.quota(inst({}, 'ns1/special'), ask(1)).grantedAmount, 1);
    assert.deepEqual(h.quota(inst({}, 'ns2/special'), ask(1)), {
      grantedAmount: 0,
      validDuration: 0,
      status: { code: Code.INVALID_ARGUMENT, message: 'memquota has no limit for quota ns2/special' },
    });
  });

  it('bounds memory: the sweep drops ended windows, and a one-off window goes when the table is full', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 2, validDuration: '1s' }] }, { maxWindows: 3 });
    for (const k of ['a', 'b', 'c']) assert.equal(granted(h, { k }), 1);
    assert.equal(h.windowCount, 3);
    assert.equal(granted(h, { k: 'd' }), 1);
    assert.equal(h.windowCount, 3);
    assert.equal(granted(h, { k: 'a' }), 1, '"a" was evicted, so it starts afresh');
    clock += 1000;
    h.sweep();
    assert.equal(h.windowCount, 0);
  });

  it("a caller varying one dimension cannot reset an active caller's window, nor another quota's", () => {
    const h = handler(
      {
        quotas: [
          { name: 'requestcount', maxAmount: 3, validDuration: '1m' },
          { name: 'other', maxAmount: 1, validDuration: '1m' },
        ],
      },
      { maxWindows: 4 },
    );
    const other = (): number => h.quota(inst({ user: 'alice' }, 'default/other'), ask(1)).grantedAmount;
    assert.equal(other(), 1);
    // alice comes back (an active caller); bob uses his whole amount at once.
    assert.equal(granted(h, { user: 'alice' }), 1);
    assert.equal(granted(h, { user: 'alice' }), 1);
    assert.equal(granted(h, { user: 'bob' }, ask(3)), 3);
    // A client sending a new value each time fills the table over and over.
    for (let i = 0; i < 1000; i++) assert.equal(granted(h, { user: `mallory-${i}` }), 1);
    assert.equal(granted(h, { user: 'alice' }), 1, 'alice still has one left');
    assert.equal(granted(h, { user: 'alice' }), 0, 'and then none: her window was kept');
    assert.equal(granted(h, { user: 'bob' }), 0, "bob's exhausted window was kept");
    assert.equal(other(), 0, 'the other quota kept its window');
    assert.equal(h.windowCount, 4 + 1, 'each quota holds at most maxWindows windows');
  });

  it('keys stay bounded: long dimension values are hashed; a long dedupId still dedups', () => {
    const h = handler({ quotas: [{ name: 'requestcount', maxAmount: 5, validDuration: '1m' }] });
    const long = 'x'.repeat(100_000);
    assert.equal(granted(h, { user: long }), 1);
    assert.equal(granted(h, { user: long }, ask(1, { dedupId: long })), 1);
    assert.equal(granted(h, { user: long }, ask(1, { dedupId: long })), 1, 'the earlier answer, uncharged');
    assert.equal(granted(h, { user: long }, ask(5, { bestEffort: true })), 3, 'two were charged, not three');
    assert.equal(granted(h, { user: `${long}y` }), 1, 'a different long value has its own window');
  });

  it('rejects duplicate quota names', () => {
    assert.throws(
      () =>
        memquotaAdapter.create(
          config({
            quotas: [
              { name: 'q', maxAmount: 1 },
              { name: 'q', maxAmount: 2 },
            ],
          }),
          createAdapterEnv({ handlerName: 'x' }).env,
        ),
      /quotas\[1\]\.name: "q" is configured twice/,
    );
  });

  it('through the factory: real time refills the window and the env timer sweeps it', async () => {
    const owned = createAdapterEnv({ handlerName: 'default/memquota-real' });
    envs.push(owned);
    const h = (await memquotaAdapter.create(config({ quotas: [{ name: 'requestcount', maxAmount: 2, validDuration: '50ms' }] }), owned.env)) as MemQuotaHandler;
    handlers.push(h);
    assert.equal(h.quota(inst(), ask(2)).grantedAmount, 2);
    assert.equal(h.quota(inst(), ask(1)).grantedAmount, 0);
    await waitFor(() => h.quota(inst(), ask(2)).grantedAmount === 2, { what: 'the window to refill' });
    await waitFor(() => h.windowCount === 0, { timeoutMs: 4000, intervalMs: 50, what: 'the sweep' });
  });
});
