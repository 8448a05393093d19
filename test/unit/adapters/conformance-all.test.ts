import assert from 'node:assert/strict';
import { BUILTIN_ADAPTERS } from '../../../adapters';
import { runAdapterConformance } from '../../../src/sdk/conformance';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The smallest valid params of each built-in whose schema does not accept `{}`. A new built-in that
 * needs params fails "schema accepts validParams" below until it is listed here: no built-in skips the kit.
 * (Each adapter's own tests run the kit again with richer params and error scenarios.)
 */
const MINIMAL_PARAMS: Readonly<Record<string, unknown>> = {
  zipkin: { url: 'http://127.0.0.1:9/' },
  // Connects lazily: the kit never sends a quota, so no Redis traffic.
  redisquota: { redisServerUrl: REDIS_URL, quotas: [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }] },
};

describe('every built-in adapter passes the conformance kit', () => {
  it('lists each built-in once', () => {
    const names = BUILTIN_ADAPTERS.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of Object.keys(MINIMAL_PARAMS)) assert.ok(names.includes(name), `MINIMAL_PARAMS names an unknown built-in ${name}`);
  });

  for (const factory of BUILTIN_ADAPTERS) {
    const run = () => runAdapterConformance(factory, { validParams: MINIMAL_PARAMS[factory.name] ?? {} });
    // redisquota's params name a Redis server: its kit runs with Redis only.
    if (factory.name === 'redisquota') describe('with Redis @redis', run);
    else run();
  }
});
