import { strict as assert } from 'node:assert';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { SseStream } from '../support/sse';
import { waitFor } from '../support/wait';
import { MIXCTL_BIN } from '../support/mixctl';
import { spawnNode } from '../support/processes';

const TOKEN = 'tap-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

function bag(src: string, dst: string, path: string): Record<string, unknown> {
  return {
    'source.labels': { app: src },
    'destination.service.name': dst,
    'request.method': 'GET',
    'request.path': path,
    'request.headers': { authorization: 'Bearer secret-of-the-caller', cookie: 'session=abc', 'x-request-id': path },
  };
}

describe('live tap: GET /v1/tap (real process)', function () {
  this.timeout(60_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;
  const streams: SseStream[] = [];

  const tap = async (query: string, headers: Record<string, string> = auth): Promise<SseStream> => {
    const s = await SseStream.open(`${mixer.url}/v1/tap${query}`, headers);
    streams.push(s);
    if (s.status === 200) await s.waitFor('open', 1);
    return s;
  };
  const check = (b: Record<string, unknown>) => postJson(`${mixer.url}/v1/check`, { attributes: b });
  const report = (b: Record<string, unknown>) => postJson(`${mixer.url}/v1/report`, { attributes: [b] });

  before(async () => {
    cfg = new TempConfigDir();
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_ADMIN_TOKEN: TOKEN });
  });
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.close()));
    await waitFor('taps to close', async () => /mixer_taps_open 0/.test(await (await fetch(`${mixer.url}/metrics`)).text()));
  });
  after(async () => {
    await mixer?.stop();
    cfg?.cleanup();
  });

  it('destination=backend sees exactly the 20 backend checks and reports, in order, each check with its verdict, credentials masked', async () => {
    const s = await tap('?destination=backend');
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const dst of ['backend', 'reviews']) {
        const path = `/${dst}/${i}`;
        assert.equal((await check(bag('frontend', dst, path))).status, 200);
        assert.equal((await report(bag('frontend', dst, path))).status, 202);
        if (dst === 'backend') sent.push(`check ${path}`, `report ${path}`);
      }
    }
    // A last backend call: once it is seen, anything before it has been seen too.
    await check(bag('frontend', 'backend', '/last'));
    await s.waitFor('check', 11);
    const got = s.events.filter((e) => e.event === 'check' || e.event === 'report');
    assert.deepEqual(
      got.map((e) => `${e.event} ${e.json.attributes['request.path']}`),
      [...sent, 'check /last'],
    );
    for (const e of got) {
      assert.equal(e.json.attributes['destination.service.name'], 'backend');
      assert.equal(e.json.attributes['request.headers'].authorization, '<masked>');
      assert.equal(e.json.attributes['request.headers'].cookie, '<masked>');
      assert.equal(e.json.attributes['request.headers']['x-request-id'], e.json.attributes['request.path']);
      assert.ok(Date.parse(e.json.time) > 0);
      assert.equal(typeof e.json.configGeneration, 'number');
      if (e.event === 'check') {
        assert.deepEqual(e.json.status, { code: 0, message: '' });
        assert.ok(Array.isArray(e.json.rules) && Array.isArray(e.json.calls) && Array.isArray(e.json.referenced));
        assert.equal(typeof e.json.durationMs, 'number');
      }
    }
  });

  it('denied=true shows the denials only, with the rule and handler that decided', async () => {
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    try {
      await waitFor('the deny rule', async () => (await check(bag('frontend', 'backend', '/probe'))).body.status.code === 7, 5000);
      const s = await tap('?denied=true');
      await check(bag('frontend', 'reviews', '/allowed'));
      await report(bag('frontend', 'backend', '/reported'));
      await check(bag('frontend', 'backend', '/denied'));
      const [e] = await s.waitFor('check', 1);
      assert.equal(s.of('report').length, 0);
      assert.equal(e.json.attributes['request.path'], '/denied');
      assert.deepEqual(e.json.status, { code: 7, message: 'frontend may not call backend' });
      assert.deepEqual(e.json.decidedBy, { rule: 'default/deny-frontend-to-backend', handler: 'default/deny-all', instance: 'default/nothing' });
      assert.ok(e.json.rules.includes('default/deny-frontend-to-backend'));
      assert.deepEqual(
        e.json.referenced.map((r: { name: string; key?: string; value?: unknown }) => `${r.name}${r.key ? `[${r.key}]` : ''}=${String(r.value)}`).sort(),
        ['destination.service.name=backend', 'source.labels[app]=frontend'],
      );
    } finally {
      cfg.remove('deny.yaml');
    }
  });

  it('a tap without the admin token is 401; a bad filter is 400 naming it', async () => {
    const none = await tap('', {});
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).error.code, 'MIXER_ERR_UNAUTHORIZED');
    const wrong = await tap('', { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const bad = await tap(`?match=${encodeURIComponent('{"all":[{"fact":"no.such.attribute","operator":"equal","value":1}]}')}`);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error.details[0].field, /^match/);
    const kind = await tap('?kind=both');
    assert.equal(kind.status, 400);
  });

  it('the 11th tap is 429; closing one lets the next in', async () => {
    const ten: SseStream[] = [];
    for (let i = 0; i < 10; i++) ten.push(await tap(''));
    assert.ok(ten.every((s) => s.status === 200));
    const eleventh = await tap('');
    assert.equal(eleventh.status, 429);
    assert.equal(JSON.parse(eleventh.body).error.code, 'MIXER_ERR_TOO_MANY_TAPS');
    await ten[0].close();
    const again = await waitFor('a free tap slot', async () => {
      const s = await tap('');
      return s.status === 200 ? s : undefined;
    });
    assert.equal(again.status, 200);
  });

  it('a tap flooded past its rate sends at most the rate and reports every other event as dropped', async () => {
    const s = await tap('?rate=5&kind=check');
    const n = 60;
    await Promise.all(Array.from({ length: n }, (_, i) => check(bag('frontend', 'flood', `/flood/${i}`))));
    const total = () => s.of('check').length + s.of('dropped').reduce((a, e) => a + (e.json.dropped as number), 0);
    await waitFor(`sent + dropped to reach ${n} (now ${total()})`, () => total() === n, 5000);
    assert.ok(s.of('dropped').length >= 1, 'at least one dropped line');
    assert.ok(s.of('check').length >= 5 && s.of('check').length < n, `sent ${s.of('check').length}`);
    const text = await (await fetch(`${mixer.url}/metrics`)).text();
    assert.match(text, /mixer_tap_dropped_total \d+/);
  });

  const tapsOpen = async (): Promise<number> => Number(/^mixer_taps_open (\d+)/m.exec(await (await fetch(`${mixer.url}/metrics`)).text())?.[1] ?? -1);

  it('mixctl tap prints one line per request with the filters, -o json one object a line, and Ctrl-C ends it cleanly', async () => {
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    try {
      await waitFor('the deny rule', async () => (await check(bag('frontend', 'backend', '/probe'))).body.status.code === 7, 5000);
      const env = { MIXER_URL: mixer.url, MIXER_ADMIN_TOKEN: TOKEN };
      const lines = spawnNode([MIXCTL_BIN, 'tap', '--source', 'frontend', '--destination', 'backend', '--denied', '--max-events', '2'], env);
      const json = spawnNode([MIXCTL_BIN, '-o', 'json', 'tap', '--destination', 'backend', '--kind', 'report'], env);
      await waitFor('both taps to open', async () => (await tapsOpen()) === 2);
      await check(bag('frontend', 'reviews', '/x'));
      await check(bag('frontend', 'backend', '/one'));
      await report({ ...bag('frontend', 'backend', '/r'), 'response.code': 503, 'response.duration': '12ms' });
      await check(bag('frontend', 'backend', '/two'));
      assert.equal(await lines.exited, 0, lines.output());
      const out = lines.output().trim().split('\n');
      assert.equal(out.length, 2, lines.output());
      assert.match(
        out[0],
        /^\S+Z check {2}frontend → backend {2}GET \/one {2}code=7 "frontend may not call backend" rule=default\/deny-frontend-to-backend {2}[\d.]+ms$/,
      );
      assert.match(out[1], /GET \/two/);

      await waitFor('the report in the json tap', () => json.output().includes('"kind":"report"'));
      json.child.kill('SIGINT');
      assert.equal(await json.exited, 0, json.output());
      const objs = json
        .output()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(objs.length, 1);
      assert.equal(objs[0].attributes['response.code'], 503);
      await waitFor('the taps to close', async () => (await tapsOpen()) === 0);
    } finally {
      cfg.remove('deny.yaml');
    }
  });

  it('mixctl tap without the token exits 4', async () => {
    const p = spawnNode([MIXCTL_BIN, 'tap'], { MIXER_URL: mixer.url, MIXER_ADMIN_TOKEN: '' });
    assert.equal(await p.exited, 4, p.output());
    assert.match(p.output(), /MIXER_ERR_UNAUTHORIZED/);
  });
});
