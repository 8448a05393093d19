import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { stdioAdapter } from '../../../../adapters/stdio';
import type { StdioConfig } from '../../../../adapters/stdio/config';
import { isPermanent } from '../../../../src/sdk/adapter';
import type { Handler, InstanceValue } from '../../../../src/sdk/adapter';
import { runAdapterConformance } from '../../../../src/sdk/conformance';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { OwnedAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';
import { parseConfigText } from '../../../../src/config/load';
import { compileConfig } from '../../../../src/config/compile';
import { decodeBag, DEFAULT_LIMITS } from '../../../../src/attributes/decode';

const dir = mkdtempSync(path.join(tmpdir(), 'mixer-stdio-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const newFile = (): string => path.join(dir, `nested-${++fileCounter}`, 'access.log');

const entry = (severity: string | undefined, variables: Record<string, unknown>, timestamp?: unknown): InstanceValue => ({
  name: 'default/accesslog',
  template: 'logentry',
  fields: { variables, ...(severity === undefined ? {} : { severity }), ...(timestamp === undefined ? {} : { timestamp }) },
});

runAdapterConformance(stdioAdapter, {
  validParams: { logStream: 'FILE', outputPath: path.join(dir, 'conformance.log'), severityLevels: { Critical: 'ERROR' }, outputLevel: 'INFO' },
  invalidParams: [
    { logStream: 'FILE' },
    { logStream: 'SYSLOG' },
    { outputLevel: 'DEBUG' },
    { severityLevels: { info: 'LOUD' } },
    { outputPath: '' },
    { rotation: {} },
  ],
  badReport: { instances: [{ name: 'default/requestcount', template: 'metric', fields: { value: 1 } }] },
  use: (h) => void h.report!([entry('info', { a: 1 })], { jobId: 'j', attempt: 1 }),
});

describe('stdio adapter', () => {
  const envs: OwnedAdapterEnv[] = [];
  const handlers: Handler[] = [];
  afterEach(async () => {
    for (const h of handlers.splice(0)) await h.close?.();
    for (const e of envs.splice(0)) e.dispose();
  });

  async function open(params: Record<string, unknown>): Promise<Handler> {
    const r = validateParams(stdioAdapter, params, 'params');
    assert.deepEqual(r.errors, []);
    const env = createAdapterEnv({ handlerName: 'default/stdio' });
    envs.push(env);
    const h = await stdioAdapter.create(r.config as StdioConfig, env.env);
    handlers.push(h);
    return h;
  }

  /** Reports, closes (which flushes) and returns the file's lines as JSON. */
  async function linesOf(params: Record<string, unknown>, instances: InstanceValue[]): Promise<Array<Record<string, unknown>>> {
    const file = newFile();
    const h = await open({ logStream: 'FILE', outputPath: file, ...params });
    await h.report!(instances, { jobId: 'j', attempt: 1 });
    await h.close!();
    const text = readFileSync(file, 'utf8');
    assert.ok(text === '' || text.endsWith('\n'), 'whole lines');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('writes one JSON line per entry: level, time from the timestamp, instance and the variables', async () => {
    const t = Date.parse('2024-05-01T12:00:00.250Z');
    const before = Date.now();
    const lines = await linesOf({}, [
      entry('Info', { method: 'GET', code: 200, latency: 12.5, mtls: true }, t),
      entry('WARNING', { path: '/a' }, '2024-05-01T12:00:01Z'),
      entry('error', { path: '/b' }),
      entry(undefined, { path: '/c' }),
      entry('Default', { path: '/d' }),
    ]);
    assert.deepEqual(lines[0], {
      level: 'info',
      time: '2024-05-01T12:00:00.250Z',
      instance: 'default/accesslog',
      method: 'GET',
      code: 200,
      latency: 12.5,
      mtls: true,
    });
    assert.deepEqual(
      lines.map((l) => [l.level, l.path]),
      [
        ['info', undefined],
        ['warn', '/a'],
        ['error', '/b'],
        ['info', '/c'],
        ['info', '/d'],
      ],
    );
    assert.equal(lines[1].time, '2024-05-01T12:00:01.000Z');
    const stamped = Date.parse(String(lines[2].time));
    assert.ok(stamped >= before && stamped <= Date.now(), 'no timestamp: now');
  });

  it('outputLevel drops lines below it; debug entries are below the default INFO', async () => {
    const all = [entry('debug', { n: 1 }), entry('info', { n: 2 }), entry('warning', { n: 3 }), entry('error', { n: 4 })];
    assert.deepEqual(
      (await linesOf({}, all)).map((l) => l.n),
      [2, 3, 4],
    );
    assert.deepEqual(
      (await linesOf({ outputLevel: 'WARNING' }, all)).map((l) => l.n),
      [3, 4],
    );
    assert.deepEqual(
      (await linesOf({ outputLevel: 'ERROR' }, all)).map((l) => l.n),
      [4],
    );
  });

  it('severityLevels maps severity text to a level (exact text first, then ignoring case)', async () => {
    const lines = await linesOf({ severityLevels: { Critical: 'ERROR', notice: 'WARNING', error: 'INFO' } }, [
      entry('Critical', {}),
      entry('NOTICE', {}),
      entry('error', {}),
      entry('warning', {}),
      entry('chatty', {}),
    ]);
    assert.deepEqual(
      lines.map((l) => l.level),
      ['error', 'warn', 'info', 'warn', 'info'],
    );
  });

  it('keeps level, time and instance: variables with those names are written under variables.*', async () => {
    const [line] = await linesOf({}, [entry('info', { level: 'x', time: 'y', instance: 'z', user: 'u' }, 0)]);
    assert.deepEqual(line, {
      level: 'info',
      time: '1970-01-01T00:00:00.000Z',
      instance: 'default/accesslog',
      'variables.level': 'x',
      'variables.time': 'y',
      'variables.instance': 'z',
      user: 'u',
    });
  });

  it('a timestamp that is not a time fails the batch permanently and writes nothing', async () => {
    const file = newFile();
    const h = await open({ logStream: 'FILE', outputPath: file });
    assert.throws(
      () => h.report!([entry('info', { n: 1 }), entry('info', { n: 2 }, 'yesterday')], { jobId: 'j', attempt: 1 }),
      (err: unknown) => isPermanent(err) && /timestamp/.test(String(err)),
    );
    await h.close!();
    assert.equal(readFileSync(file, 'utf8'), '');
  });

  it('appends to an existing file, and close is safe twice', async () => {
    const file = newFile();
    const h1 = await open({ logStream: 'FILE', outputPath: file });
    await h1.report!([entry('info', { n: 1 })], { jobId: 'a', attempt: 1 });
    await h1.close!();
    await h1.close!();
    assert.throws(() => h1.report!([entry('info', { n: 9 })], { jobId: 'late', attempt: 1 }), /closed/);
    const h2 = await open({ logStream: 'FILE', outputPath: file });
    await h2.report!([entry('info', { n: 2 })], { jobId: 'b', attempt: 1 });
    await h2.close!();
    assert.deepEqual(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { n: number }).n),
      [1, 2],
    );
  });

  it('fails to create when the file cannot be opened', async () => {
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, '');
    const r = validateParams(stdioAdapter, { logStream: 'FILE', outputPath: path.join(blocker, 'x.log') }, 'params');
    const env = createAdapterEnv({ handlerName: 'default/stdio' });
    envs.push(env);
    await assert.rejects(
      Promise.resolve().then(() => stdioAdapter.create(r.config as StdioConfig, env.env)),
      /cannot open/,
    );
  });

  for (const [stream, key] of [
    ['STDOUT', 'stdout'],
    ['STDERR', 'stderr'],
  ] as const) {
    it(`writes to ${key} (in a child process) and leaves it open on close`, async () => {
      const script = `
        const { stdioAdapter } = require(${JSON.stringify(path.resolve(__dirname, '../../../../adapters/stdio'))});
        const { createAdapterEnv } = require(${JSON.stringify(path.resolve(__dirname, '../../../../src/sdk/env'))});
        (async () => {
          const h = await stdioAdapter.create({ logStream: ${JSON.stringify(stream)} }, createAdapterEnv({ handlerName: 'default/stdio' }).env);
          h.report([{ name: 'default/accesslog', template: 'logentry', fields: { severity: 'warning', timestamp: 0, variables: { path: '/x' } } }], { jobId: 'j', attempt: 1 });
          await h.close();
          await h.close();
          process.${key}.write('after-close\\n');
        })();`;
      const out = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 15_000 });
      const lines = out[key].trim().split('\n');
      assert.deepEqual(JSON.parse(lines[0]), { level: 'warn', time: '1970-01-01T00:00:00.000Z', instance: 'default/accesslog', path: '/x' });
      assert.equal(lines[1], 'after-close');
      assert.equal(out[key === 'stdout' ? 'stderr' : 'stdout'], '', 'nothing on the other stream');
    });
  }

  it('the access-log example in README.md compiles against rules/attributes.yaml and writes a line', async () => {
    const root = path.resolve(__dirname, '../../../../..');
    const readme = readFileSync(path.join(root, 'adapters/stdio/README.md'), 'utf8');
    const example = /## Example: an access log\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'the README has the example');
    const file = newFile();
    const loaded = [readFileSync(path.join(root, 'rules/attributes.yaml'), 'utf8'), example.replace('/var/log/mixer/access.log', file)].map((text, i) =>
      parseConfigText(text, `doc${i}.yaml`, {}),
    );
    for (const l of loaded) assert.deepEqual(l.errors, []);
    const { plan, errors } = compileConfig(
      loaded.flatMap((l) => l.objects),
      new Map([[stdioAdapter.name, stdioAdapter]]),
    );
    assert.deepEqual(errors, []);
    const bag = decodeBag(
      { 'request.method': 'GET', 'request.path': '/cart', 'response.code': 503, 'response.duration': '1.5s', 'request.time': '2024-05-01T12:00:00Z' },
      plan!.vocabulary,
      DEFAULT_LIMITS,
      'bag',
    );
    const instances = plan!.rules.filter((r) => r.predicate(bag)).flatMap((r) => r.actions.flatMap((a) => a.instances.map((i) => i.build(bag))));
    assert.equal(instances.length, 1);
    const h = await open(plan!.handlers.get('default/stdio')!.config as Record<string, unknown>);
    await h.report!(instances, { jobId: 'j', attempt: 1 });
    await h.close!();
    const line = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(line.level, 'info');
    assert.equal(line.time, '2024-05-01T12:00:00.000Z');
    assert.equal(line.instance, 'default/accesslog');
    assert.equal(line.url, '/cart');
    assert.equal(line.responseCode, 503);
    assert.equal(line.latency, 1500);
    assert.equal(line.sourceWorkload, 'unknown');
  });
});
