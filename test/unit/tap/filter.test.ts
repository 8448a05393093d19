import { strict as assert } from 'node:assert';
import { Bag } from '../../../src/attributes/bag';
import { MixerError } from '../../../src/base/errors';
import { compileTapFilter, parseTapQuery } from '../../../src/tap/filter';
import { RateWindow } from '../../../src/tap/session';
import type { Vocabulary } from '../../../src/attributes/types';

const VOCAB: Vocabulary = new Map([
  ['source.labels', 'STRING_MAP'],
  ['destination.service.name', 'STRING'],
  ['response.code', 'INT64'],
]);
const bag = (app: string, dst: string, code = 200) => Bag.trusted({ 'source.labels': { app }, 'destination.service.name': dst, 'response.code': code });
const filter = (q: Record<string, string>) => compileTapFilter(parseTapQuery(q), VOCAB);

function badRequest(fn: () => unknown, field: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof MixerError && e.code === 'MIXER_ERR_BAD_REQUEST' && field.test(e.details[0].field));
}

describe('tap/filter', () => {
  it('matches everything without parameters', () => {
    const f = filter({});
    assert.equal(f.matches('check', bag('a', 'b'), 0), true);
    assert.equal(f.matches('report', bag('a', 'b'), undefined), true);
  });

  it('shorthands: source (app label), destination (service name), kind, denied', () => {
    const f = filter({ source: 'frontend', destination: 'backend' });
    assert.equal(f.matches('check', bag('frontend', 'backend'), 0), true);
    assert.equal(f.matches('check', bag('frontend', 'reviews'), 0), false);
    assert.equal(f.matches('check', bag('other', 'backend'), 0), false);
    assert.equal(filter({ kind: 'report' }).matches('check', bag('a', 'b'), 0), false);
    const denied = filter({ denied: 'true' });
    assert.equal(denied.matches('check', bag('a', 'b'), 7), true);
    assert.equal(denied.matches('check', bag('a', 'b'), 0), false);
    assert.equal(denied.matches('report', bag('a', 'b'), undefined), false);
    assert.equal(filter({ denied: 'false' }).matches('check', bag('a', 'b'), 0), true);
  });

  it('match: the rule condition language, combined with the shorthands', () => {
    const match = JSON.stringify({ any: [{ fact: 'response.code', operator: 'greaterThanInclusive', value: 500 }] });
    const f = filter({ match, destination: 'backend' });
    assert.equal(f.matches('report', bag('a', 'backend', 503), undefined), true);
    assert.equal(f.matches('report', bag('a', 'backend', 200), undefined), false);
    assert.equal(f.matches('report', bag('a', 'reviews', 503), undefined), false);
  });

  it('refuses bad filters with the parameter named, as a Rule match would be refused', () => {
    badRequest(() => filter({ match: '{not json' }), /^match$/);
    badRequest(() => filter({ match: JSON.stringify({ all: [{ fact: 'nope', operator: 'equal', value: 1 }] }) }), /^match/);
    badRequest(() => filter({ match: JSON.stringify({ all: [{ fact: 'response.code', operator: 'equal', value: 'x' }] }) }), /^match/);
    badRequest(() => filter({ kind: 'both' }), /^kind$/);
    badRequest(() => filter({ denied: 'yes' }), /^denied$/);
    badRequest(() => filter({ destinaton: 'x' }), /^destinaton$/);
  });

  it('RateWindow admits at most its rate a second and counts the rest', () => {
    const w = new RateWindow(3);
    const t = 1_000_000;
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((i) => w.admit(t + i)),
      [true, true, true, false, false],
    );
    assert.equal(w.takeDropped(), 2);
    assert.equal(w.takeDropped(), 0);
    assert.equal(w.admit(t + 1001), true, 'a new second');
  });
});
