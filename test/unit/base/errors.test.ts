import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../../support/processes';
import { ERROR_CODES, MixerError, httpStatusOf } from '../../../src/base/errors';

describe('errors', () => {
  const doc = readFileSync(path.join(REPO, 'docs', 'errors.md'), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `(MIXER_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));

  it('docs/errors.md lists every code with its HTTP status, and nothing else', () => {
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, status] of rows) assert.equal(status, httpStatusOf(code as keyof typeof ERROR_CODES), code);
  });

  it('serialises to the API error body', () => {
    const e = new MixerError('MIXER_ERR_ATTRIBUTE_TYPE', 'bad', { details: [{ field: 'attributes.response.code', reason: 'not an integer' }] });
    assert.deepEqual(JSON.parse(JSON.stringify(e)), {
      error: { code: 'MIXER_ERR_ATTRIBUTE_TYPE', message: 'bad', details: [{ field: 'attributes.response.code', reason: 'not an integer' }] },
    });
  });
});
