import assert from 'node:assert/strict';
import * as path from 'node:path';
import { REPO } from '../../support/processes';

/** What a plugin author gets from `require('mixer')`: the package's main module. */
describe('plugins: the SDK as the package export', () => {
  // Loaded by path at run time, as a plugin author's require('mixer') resolves it.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const pkg = require(path.join(REPO, 'package.json')) as { main: string; types: string };
  const sdk = require(path.join(REPO, pkg.main)) as Record<string, unknown>;
  /* eslint-enable @typescript-eslint/no-require-imports */

  it('exports the adapter contract, params helpers, the conformance kit, env and templates by name', () => {
    for (const name of [
      'Code',
      'PermanentError',
      'isPermanent',
      'RouteError',
      'validateParams',
      'GoDuration',
      'StringEnum',
      'GO_DURATION_FORMAT',
      'parseDuration',
      'runAdapterConformance',
      'createAdapterEnv',
      'TEMPLATES',
    ]) {
      assert.ok(sdk[name] !== undefined, `${name} is exported`);
    }
    assert.equal((sdk.Code as Record<string, number>).UNAVAILABLE, 14);
    assert.ok(Object.keys(sdk.TEMPLATES as object).includes('metric'));
  });

  it('errors and helpers behave as the docs say', () => {
    const PermanentError = sdk.PermanentError as new (m: string) => Error;
    const isPermanent = sdk.isPermanent as (e: unknown) => boolean;
    assert.ok(isPermanent(new PermanentError('bad data')));
    assert.ok(isPermanent(Object.assign(new Error('plain object flag'), { permanent: true })), 'a plugin needs no import to mark an error permanent');
    assert.ok(!isPermanent(new Error('try again')));
    const GoDuration = sdk.GoDuration as () => object;
    const validateParams = sdk.validateParams as (f: object, p: unknown, w: string) => { errors: Array<{ field: string }> };
    const factory = { name: 'x', templates: ['metric'], configSchema: { type: 'object', properties: { every: GoDuration() } }, create: () => ({}) };
    assert.deepEqual(validateParams(factory, { every: '5s' }, 'params').errors, []);
    assert.equal(validateParams(factory, { every: 'soon' }, 'params').errors[0].field, 'params.every');
    const env = (sdk.createAdapterEnv as (o: object) => { env: { handlerName: string }; dispose(): void })({ handlerName: 'default/x' });
    assert.equal(env.env.handlerName, 'default/x');
    env.dispose();
  });

  it('loading the SDK starts nothing and pulls in no adapter or server code', () => {
    const loaded = Object.keys(require.cache);
    const main = path.join(REPO, pkg.main);
    assert.ok(loaded.includes(main));
    // The SDK module itself must not depend on the inventory or the HTTP API.
    const own = require.cache[main]!.children.map((c) => path.relative(REPO, c.filename));
    assert.ok(
      own.every((f) => !f.startsWith(`dist${path.sep}adapters`) && !f.includes(`${path.sep}api${path.sep}`)),
      own.join(', '),
    );
  });
});
