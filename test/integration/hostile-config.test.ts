import { strict as assert } from 'node:assert';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';

const TOKEN = 'hostile-config-test-token';
const SECRET = 'mesh-secret-that-must-not-leak';
const EVIL = `${'a'.repeat(40)}!`;

/** A REGEX blacklist whose override backtracks catastrophically on the old engine, on `request.path`. */
const LIST = `apiVersion: mixer/v1
kind: Handler
metadata: {name: paths}
spec:
  adapter: list
  params: {entryType: REGEX, blacklist: true, overrides: ["^(a+)+$"]}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: path}
spec: {template: listentry, params: {value: request.path | ""}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: path-list}
spec:
  actions: [{handler: paths, instances: [path]}]
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: from-file}
spec:
  adapter: denier
  params: {status: {code: 7, message: "file says \${MIXER_TEST_SECRET}"}}
`;

/** POSTs a check and returns its status and verdict. */
async function check(m: MixerProcess, attributes: Record<string, unknown>): Promise<{ status: number; body: Answer }> {
  const r = await postJson(`${m.url}/v1/check`, { attributes });
  return { status: r.status, body: r.body as Answer };
}

/** The parts of Mixer's JSON answers these tests read. */
interface Answer {
  error?: { code: string; details: unknown };
  status?: { code: number; message: string };
  spec?: { params: { status: { message: string } } };
}

async function call(m: MixerProcess, method: string, path: string, body?: string): Promise<{ status: number; body: Answer }> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/yaml';
  const r = await fetch(`${m.url}${path}`, { method, headers, body });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as Answer };
  } catch {
    return { status: r.status, body: { error: { code: 'not JSON', details: text } } };
  }
}

describe('hostile config and input: regexes, ${VAR} through the API, config body size', function () {
  this.timeout(60_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;

  before(async () => {
    cfg = new TempConfigDir();
    cfg.write('hostile.yaml', LIST);
    mixer = await startMixer({
      MIXER_CONFIG_DIR: cfg.dir,
      REDIS_URL: '',
      MIXER_ADMIN_TOKEN: TOKEN,
      MIXER_TEST_SECRET: SECRET,
      MIXER_MESH_KEY: SECRET,
    });
  });
  after(async () => {
    await mixer?.stop();
    cfg?.cleanup();
  });

  it('a check that would backtrack for hours answers, and /healthz answers while checks run', async () => {
    const checks = Array.from({ length: 3 }, () => check(mixer, { 'request.path': EVIL }));
    const health = await fetch(`${mixer.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(health.status, 200);
    for (const r of await Promise.all(checks)) {
      assert.equal(r.status, 200);
      assert.equal(r.body.status?.code, 0, 'not in the blacklist');
    }
    const hit = await check(mixer, { 'request.path': 'aaaa' });
    assert.equal(hit.body.status?.code, 7);
  });

  it('refuses through the API a handler whose regex cannot run in linear time, naming the field; the rest keeps serving', async () => {
    const r = await call(
      mixer,
      'PUT',
      '/v1/config/Handler/default/backref',
      'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: backref}\nspec:\n  adapter: list\n  params: {entryType: REGEX, overrides: ["(a)\\\\1"]}\n',
    );
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error?.code, 'MIXER_ERR_CONFIG_INVALID');
    assert.match(JSON.stringify(r.body.error?.details), /Handler\/default\/backref.*overrides\[0\].*cannot be matched in linear time/);
    assert.equal((await check(mixer, { 'request.path': 'aaaa' })).body.status?.code, 7);
  });

  it('does not expand ${VAR} in objects sent through the API: an unauthenticated check cannot read the environment', async () => {
    const handler =
      'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: leak}\nspec:\n  adapter: denier\n  params: {status: {code: 7, message: "${MIXER_MESH_KEY} ${MIXER_TEST_SECRET}"}}\n';
    const instance = 'apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: nothing}\nspec: {template: checknothing}\n';
    const rule =
      'apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: leak}\nspec:\n  match: {all: [{fact: destination.service.name, operator: equal, value: leaky}]}\n  actions: [{handler: leak, instances: [nothing]}]\n';
    assert.equal((await call(mixer, 'PUT', '/v1/config/Instance/default/nothing', instance)).status, 201);
    assert.equal((await call(mixer, 'PUT', '/v1/config/Handler/default/leak', handler)).status, 201);
    assert.equal((await call(mixer, 'PUT', '/v1/config/Rule/default/leak', rule)).status, 201);
    const r = await check(mixer, { 'destination.service.name': 'leaky' });
    assert.equal(r.body.status?.code, 7);
    assert.equal(r.body.status?.message, '${MIXER_MESH_KEY} ${MIXER_TEST_SECRET}');
    assert.doesNotMatch(JSON.stringify(r.body), new RegExp(SECRET));
  });

  it('GET /v1/config shows file objects as written, not expanded', async () => {
    const list = await call(mixer, 'GET', '/v1/config');
    assert.equal(list.status, 200);
    assert.doesNotMatch(JSON.stringify(list.body), new RegExp(SECRET));
    const one = await call(mixer, 'GET', '/v1/config/Handler/default/from-file');
    assert.equal(one.body.spec?.params.status.message, 'file says ${MIXER_TEST_SECRET}');
  });

  it('caps config PUT bodies (MIXER_MAX_CONFIG_BODY_BYTES, 64 KiB by default): 413 without parsing them', async () => {
    let big = 'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: big}\nspec:\n  adapter: denier\n  params:\n';
    for (let i = 0; big.length <= 64 * 1024; i++) big += `    k${i}: v${i}\n`;
    const r = await call(mixer, 'PUT', '/v1/config/Handler/default/big', big);
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(r.body.error?.code, 'MIXER_ERR_BODY_TOO_LARGE');
    assert.equal((await fetch(`${mixer.url}/healthz`)).status, 200);
  });
});
