import { strict as assert } from 'node:assert';
import { CheckCache } from '../../../../src/mesh/sidecar/check-cache';
import type { AttributeBag, CheckAnswerWire, ReferencedAttribute } from '../../../../src/mesh/sidecar/check-cache';

const FRONTEND_TO_BACKEND = { 'source.labels': { app: 'frontend', version: 'v1' }, 'destination.service.name': 'backend', 'request.path': '/a' };
const DENY_REFS: ReferencedAttribute[] = [
  { name: 'source.labels', key: 'app', condition: 'EXACT' },
  { name: 'destination.service.name', condition: 'EXACT' },
];

/** A fake Mixer: answers with `answer(bag)` and counts calls. */
function fakeMixer(answer: (bag: AttributeBag) => Partial<CheckAnswerWire>) {
  const calls: AttributeBag[] = [];
  let down = false;
  const transport = async (bag: AttributeBag): Promise<CheckAnswerWire> => {
    calls.push(bag);
    if (down) throw new Error('connect ECONNREFUSED');
    return { status: { code: 0, message: '' }, validDuration: '1m0s', validUseCount: 10000, referencedAttributes: [], configGeneration: 1, ...answer(bag) };
  };
  return { calls, transport, setDown: (v: boolean) => (down = v) };
}

describe('mesh/sidecar/check-cache', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('answers repeated bags from the cache until validDuration passes', async () => {
    const m = fakeMixer(() => ({ status: { code: 7, message: 'no' }, validDuration: '5s', referencedAttributes: DENY_REFS }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    const first = await cache.check(FRONTEND_TO_BACKEND);
    assert.deepEqual(first, { status: { code: 7, message: 'no' }, cacheHit: false });
    const second = await cache.check(FRONTEND_TO_BACKEND);
    assert.equal(second.cacheHit, true);
    assert.equal(second.status.code, 7);
    assert.equal(m.calls.length, 1);
    now += 4_999;
    assert.equal((await cache.check(FRONTEND_TO_BACKEND)).cacheHit, true);
    now += 1;
    assert.equal((await cache.check(FRONTEND_TO_BACKEND)).cacheHit, false, 'expired at validDuration');
    assert.equal(m.calls.length, 2);
  });

  it('cached() decides a warm bag without a promise (a hit, counted), and says nothing of a cold one (no call, no miss)', async () => {
    const m = fakeMixer(() => ({ referencedAttributes: DENY_REFS }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    assert.equal(cache.cached(FRONTEND_TO_BACKEND), undefined);
    assert.deepEqual([m.calls.length, cache.stats.hits, cache.stats.misses], [0, 0, 0]);
    await cache.check(FRONTEND_TO_BACKEND);
    assert.deepEqual(cache.cached({ ...FRONTEND_TO_BACKEND, 'request.path': '/b' }), { status: { code: 0, message: '' }, cacheHit: true });
    assert.deepEqual([m.calls.length, cache.stats.hits, cache.stats.misses], [1, 1, 1]);
  });

  it('honours validUseCount: the fetching request is the first use', async () => {
    const m = fakeMixer(() => ({ validUseCount: 3, referencedAttributes: DENY_REFS }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    const hits: boolean[] = [];
    for (let i = 0; i < 7; i++) hits.push((await cache.check(FRONTEND_TO_BACKEND)).cacheHit);
    assert.deepEqual(hits, [false, true, true, false, true, true, false]);
  });

  it('never caches a verdict valid for one use or for 0s', async () => {
    for (const a of [{ validUseCount: 1 }, { validDuration: '0s' }]) {
      const m = fakeMixer(() => ({ ...a, referencedAttributes: DENY_REFS }));
      const cache = new CheckCache({ transport: m.transport, now: clock });
      await cache.check(FRONTEND_TO_BACKEND);
      await cache.check(FRONTEND_TO_BACKEND);
      assert.equal(m.calls.length, 2, JSON.stringify(a));
      assert.equal(cache.size, 0);
    }
  });

  it('keys verdicts on exactly the referenced attributes (values and map keys)', async () => {
    const m = fakeMixer((bag) => {
      const app = (bag['source.labels'] as Record<string, string> | undefined)?.app;
      const denied = app === 'frontend' && bag['destination.service.name'] === 'backend';
      return { status: denied ? { code: 7, message: 'no' } : { code: 0 }, referencedAttributes: DENY_REFS };
    });
    const cache = new CheckCache({ transport: m.transport, now: clock });
    assert.equal((await cache.check(FRONTEND_TO_BACKEND)).status.code, 7);
    // Same app and service, other version, other path: the same verdict from the cache.
    const other = await cache.check({ ...FRONTEND_TO_BACKEND, 'source.labels': { app: 'frontend', version: 'v2' }, 'request.path': '/b' });
    assert.deepEqual([other.cacheHit, other.status.code], [true, 7]);
    // Another destination: not covered, Mixer is asked and allows.
    const elsewhere = await cache.check({ ...FRONTEND_TO_BACKEND, 'destination.service.name': 'other' });
    assert.deepEqual([elsewhere.cacheHit, elsewhere.status.code], [false, 0]);
    // Another app label: not covered either.
    const admin = await cache.check({ ...FRONTEND_TO_BACKEND, 'source.labels': { app: 'admin' } });
    assert.deepEqual([admin.cacheHit, admin.status.code], [false, 0]);
    assert.equal(m.calls.length, 3);
  });

  it('keys on ABSENCE: a verdict for a bag lacking an attribute (or map key) does not cover bags that carry it', async () => {
    const refs: ReferencedAttribute[] = [
      { name: 'source.labels', key: 'app', condition: 'ABSENCE' },
      { name: 'request.api_key', condition: 'ABSENCE' },
    ];
    const m = fakeMixer(() => ({ status: { code: 16, message: 'who are you' }, referencedAttributes: refs }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    await cache.check({ 'source.labels': { version: 'v1' } });
    assert.equal((await cache.check({ 'source.labels': { version: 'v2' } })).cacheHit, true, 'still no app label, no api key');
    assert.equal((await cache.check({})).cacheHit, true, 'no labels at all: the key is absent too');
    assert.equal((await cache.check({ 'source.labels': { app: 'frontend' } })).cacheHit, false, 'the app label is present');
    assert.equal((await cache.check({ 'request.api_key': 'k' })).cacheHit, false, 'the api key is present');
  });

  it('drops every verdict when the config generation changes, from a check answer or from the routes poll', async () => {
    let gen = 1;
    const m = fakeMixer(() => ({ referencedAttributes: DENY_REFS, configGeneration: gen }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    await cache.check(FRONTEND_TO_BACKEND);
    await cache.check({ ...FRONTEND_TO_BACKEND, 'destination.service.name': 'other' });
    assert.equal(cache.size, 2);
    cache.observeGeneration(1, 'e1');
    assert.equal(cache.size, 2, 'the same generation keeps them');
    cache.observeGeneration(2, 'e1');
    assert.equal(cache.size, 0, 'a new generation drops them');
    assert.equal((await cache.check(FRONTEND_TO_BACKEND)).cacheHit, false);
    // Mixer restarted (a new epoch) with a generation that happens to be the same.
    gen = 2;
    await cache.check(FRONTEND_TO_BACKEND);
    cache.observeGeneration(2, 'e2');
    assert.equal(cache.size, 0, 'a new epoch drops them');
    // A check answer from a newer generation drops older verdicts too.
    await cache.check(FRONTEND_TO_BACKEND);
    gen = 3;
    await cache.check({ ...FRONTEND_TO_BACKEND, 'destination.service.name': 'other' });
    assert.equal(cache.generation, 3);
    assert.equal(cache.size, 1);
    assert.equal((await cache.check(FRONTEND_TO_BACKEND)).cacheHit, false);
  });

  it('uses but never keeps an answer decided on an older generation', async () => {
    const m = fakeMixer(() => ({ referencedAttributes: DENY_REFS, configGeneration: 4 }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    cache.observeGeneration(5, 'e');
    const v = await cache.check(FRONTEND_TO_BACKEND);
    assert.equal(v.status.code, 0);
    assert.equal(cache.size, 0);
  });

  it('fails closed by default when Mixer cannot be asked, and open when configured; neither is cached', async () => {
    const m = fakeMixer(() => ({}));
    m.setDown(true);
    const closed = new CheckCache({ transport: m.transport, now: clock });
    const c = await closed.check(FRONTEND_TO_BACKEND);
    assert.equal(c.status.code, 14);
    assert.match(c.status.message, /Mixer is unavailable: connect ECONNREFUSED/);
    assert.equal(c.mixerError, 'connect ECONNREFUSED');
    const open = new CheckCache({ transport: m.transport, failOpen: true, now: clock });
    const o = await open.check(FRONTEND_TO_BACKEND);
    assert.equal(o.status.code, 0);
    assert.equal(o.mixerError, 'connect ECONNREFUSED');
    await open.check(FRONTEND_TO_BACKEND);
    assert.equal(open.size + closed.size, 0);
    assert.equal(m.calls.length, 3, 'every request asks again while Mixer is down');
    m.setDown(false);
    assert.equal((await closed.check(FRONTEND_TO_BACKEND)).status.code, 0, 'and recovers when it is back');
  });

  it('stays within maxEntries, dropping the oldest', async () => {
    const m = fakeMixer(() => ({ referencedAttributes: [{ name: 'request.path', condition: 'EXACT' }] }));
    const cache = new CheckCache({ transport: m.transport, now: clock, maxEntries: 3 });
    for (const p of ['/1', '/2', '/3', '/4']) await cache.check({ 'request.path': p });
    assert.equal(cache.size, 3);
    assert.equal((await cache.check({ 'request.path': '/1' })).cacheHit, false, 'the oldest went');
    assert.equal((await cache.check({ 'request.path': '/4' })).cacheHit, true);
  });

  it('a decision that read nothing covers every bag', async () => {
    const m = fakeMixer(() => ({ referencedAttributes: [] }));
    const cache = new CheckCache({ transport: m.transport, now: clock });
    await cache.check({ a: 1 });
    assert.equal((await cache.check({ b: 2 })).cacheHit, true);
  });
});
