import assert from 'node:assert/strict';
import { BUILTIN_ADAPTERS, adapterInventory } from '../../../adapters';
import type { AdapterFactory } from '../../../src/sdk/adapter';

describe('adapters inventory', () => {
  it('lists the built-in check and quota adapters by their YAML names', () => {
    const names = [...adapterInventory().keys()];
    for (const n of ['denier', 'list', 'memquota', 'redisquota']) assert.ok(names.includes(n), n);
    assert.equal(names.length, BUILTIN_ADAPTERS.length);
    assert.equal(
      adapterInventory().get('list'),
      BUILTIN_ADAPTERS.find((f) => f.name === 'list'),
    );
  });

  it('is a frozen list', () => {
    assert.ok(Object.isFrozen(BUILTIN_ADAPTERS));
  });

  it('throws on a duplicate name', () => {
    const fake: AdapterFactory = { name: 'denier', templates: ['checknothing'], configSchema: {}, create: () => ({}) };
    assert.throws(() => adapterInventory([...BUILTIN_ADAPTERS, fake]), /duplicate adapter name "denier"/);
  });
});
