import { strict as assert } from 'node:assert';
import { TimeoutError, withTimeout } from '../../../src/base/timeout';

describe('base/timeout', () => {
  it('answers with the promise when it settles first, value or rejection', async () => {
    assert.equal(await withTimeout(Promise.resolve(7), 1000, 'x'), 7);
    await assert.rejects(withTimeout(Promise.reject(new Error('own')), 1000, 'x'), /^Error: own$/);
  });

  it('rejects with a typed, retryable TimeoutError naming what timed out and the limit', async () => {
    const err = await withTimeout(new Promise(() => undefined), 10, 'handler default/p: report').catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.message, 'handler default/p: report timed out after 10 ms');
    assert.equal(err.what, 'handler default/p: report');
    assert.equal(err.ms, 10);
    assert.equal(err.retryable, true);
  });
});
