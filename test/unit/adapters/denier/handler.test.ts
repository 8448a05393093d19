import assert from 'node:assert/strict';
import { denierAdapter } from '../../../../adapters/denier';
import { Code } from '../../../../src/sdk/adapter';
import type { Handler, InstanceValue } from '../../../../src/sdk/adapter';
import { runAdapterConformance } from '../../../../src/sdk/conformance';
import { createAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';
import type { DenierConfig } from '../../../../adapters/denier/config';

const nothing: InstanceValue = { name: 'default/nothing', template: 'checknothing', fields: {} };
const quotaInst: InstanceValue = { name: 'default/requestcount', template: 'quota', fields: { dimensions: {} } };

runAdapterConformance(denierAdapter, {
  validParams: { status: { code: 7, message: 'no' }, validDuration: '5s', validUseCount: 1000 },
  invalidParams: [{ status: { code: 'seven' } }, { validDuration: 'soon' }, { validUseCount: -1 }, { stauts: {} }, { status: { code: 99 } }],
  use: (h) => void h.check!(nothing),
});

async function denier(params: unknown): Promise<Handler> {
  const r = validateParams(denierAdapter, params, 'params');
  assert.deepEqual(r.errors, []);
  return denierAdapter.create(r.config as DenierConfig, createAdapterEnv({ handlerName: 'default/deny' }).env);
}

describe('denier adapter', () => {
  it('denies with PERMISSION_DENIED, 5s and 1000 uses by default', async () => {
    const h = await denier({});
    assert.deepEqual(await h.check!(nothing), { status: { code: Code.PERMISSION_DENIED }, validDuration: 5000, validUseCount: 1000 });
  });

  it('answers the configured status and caching limits', async () => {
    const h = await denier({ status: { code: 9, message: 'frontend may not call backend' }, validDuration: '1m30s', validUseCount: 3 });
    assert.deepEqual(await h.check!(nothing), {
      status: { code: Code.FAILED_PRECONDITION, message: 'frontend may not call backend' },
      validDuration: 90_000,
      validUseCount: 3,
    });
  });

  it('grants no quota, with its status, for validDuration', async () => {
    const h = await denier({ status: { code: 8, message: 'none left' }, validDuration: '2s' });
    assert.deepEqual(await h.quota!(quotaInst, { amount: 5, bestEffort: true, dedupId: '' }), {
      grantedAmount: 0,
      validDuration: 2000,
      status: { code: Code.RESOURCE_EXHAUSTED, message: 'none left' },
    });
  });

  it('a caller changing one answer does not change the next', async () => {
    const h = await denier({ status: { code: 7, message: 'no' } });
    const first = await h.check!(nothing);
    first.status.code = 0;
    assert.equal((await h.check!(nothing)).status.code, 7);
  });
});
