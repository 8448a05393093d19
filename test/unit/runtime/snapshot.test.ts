import { strict as assert } from 'node:assert';
import { retiredHandlers } from '../../../src/runtime/snapshot';
import type { AdapterFactory } from '../../../src/sdk/adapter';
import { handlerDoc, ruleDoc, snapshotOf } from '../../support/snapshot';

/** Counts the handlers it creates and closes. */
const counted: AdapterFactory<{ tag?: string }> & { created: number; closed: number } = {
  name: 'counted',
  templates: ['metric', 'checknothing'],
  configSchema: { type: 'object' },
  created: 0,
  closed: 0,
  create: () => {
    counted.created++;
    return { report: () => undefined, check: () => ({ status: { code: 0 } }), close: () => void counted.closed++ };
  },
};

describe('runtime/snapshot', () => {
  beforeEach(() => {
    counted.created = 0;
    counted.closed = 0;
  });

  it('binds rules to handlers by template variety, and lists where report batches go', async () => {
    const s = await snapshotOf(
      handlerDoc('a', 'counted', {}) + handlerDoc('b', 'counted', {}) + ruleDoc('r1', 'a', 'requests') + ruleDoc('r2', 'b', 'nothing'),
      [counted],
    );
    assert.deepEqual(s.reportHandlers, ['default/a']);
    assert.deepEqual([...s.reportRulesByHandler.keys()], ['default/a']);
    assert.ok(Object.isFrozen(s));
    assert.equal(counted.created, 2);
  });

  it('a reload reuses the handlers whose config did not change and starts the others; the old ones retire', async () => {
    const first = await snapshotOf(handlerDoc('a', 'counted', {}) + handlerDoc('b', 'counted', { tag: 'v1' }) + ruleDoc('r', 'a', 'requests'), [counted]);
    const next = await snapshotOf(handlerDoc('a', 'counted', {}) + handlerDoc('b', 'counted', { tag: 'v2' }) + ruleDoc('r', 'a', 'requests'), [counted], {
      previous: first,
      generation: 2,
    });
    assert.equal(counted.created, 3, 'only the changed handler is created again');
    assert.equal(next.handlers.get('default/a'), first.handlers.get('default/a'));
    assert.notEqual(next.handlers.get('default/b'), first.handlers.get('default/b'));
    const retired = retiredHandlers(first, next);
    assert.deepEqual(
      retired.map((h) => h.ref),
      ['default/b'],
    );
    assert.deepEqual(
      retiredHandlers(next, undefined)
        .map((h) => h.ref)
        .sort(),
      ['default/a', 'default/b'],
    );
  });

  it('when a handler fails to start, the new ones are closed and the reload fails naming it', async () => {
    const broken: AdapterFactory = {
      name: 'broken',
      templates: ['metric'],
      configSchema: { type: 'object' },
      create: () => {
        throw new Error('cannot start');
      },
    };
    await assert.rejects(
      snapshotOf(handlerDoc('ok', 'counted', {}) + handlerDoc('bad', 'broken', {}) + ruleDoc('r', 'bad', 'requests'), [counted, broken]),
      /cannot start/,
    );
    assert.equal(counted.closed, counted.created, 'what was started is closed');
  });
});
