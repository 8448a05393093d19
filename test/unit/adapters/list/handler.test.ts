import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { listAdapter } from '../../../../adapters/list';
import type { ListConfig } from '../../../../adapters/list/config';
import { Code } from '../../../../src/sdk/adapter';
import type { CheckResult, Handler } from '../../../../src/sdk/adapter';
import { runAdapterConformance, waitFor } from '../../../../src/sdk/conformance';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { OwnedAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';
import { MAX_REGEX_INPUT } from '../../../../src/base/linear-regex';
import { answerInWorker } from '../../../support/in-worker';

const dir = mkdtempSync(join(tmpdir(), 'mixer-list-test-'));
const conformanceFile = join(dir, 'conformance.txt');
writeFileSync(conformanceFile, 'a\nb\n');
after(() => rmSync(dir, { recursive: true, force: true }));

runAdapterConformance(listAdapter, {
  validParams: { file: conformanceFile, refreshInterval: '20ms', ttl: '1s', overrides: ['c'] },
  invalidParams: [
    { entryType: 'IPS' },
    { providerUrl: 'ftp://lists.example/x' },
    { blacklist: 'yes' },
    { ttl: '5 minutes' },
    { overrides: 'a' },
    { cachingUseCount: 1.5 },
  ],
  use: async (h) => void (await h.check!({ name: 'default/v', template: 'listentry', fields: { value: 'a' } })),
});

describe('list adapter', () => {
  const live: Array<{ h?: Handler; owned: OwnedAdapterEnv }> = [];
  let n = 0;
  afterEach(async () => {
    for (const x of live.splice(0)) {
      await x.h?.close?.();
      x.owned.dispose();
    }
  });

  async function list(params: Record<string, unknown>, logger?: pino.Logger): Promise<Handler> {
    const r = validateParams(listAdapter, params, 'params');
    assert.deepEqual(r.errors, []);
    const slot: { h?: Handler; owned: OwnedAdapterEnv } = { owned: createAdapterEnv({ handlerName: 'default/list', logger }) };
    live.push(slot);
    slot.h = await listAdapter.create(r.config as ListConfig, slot.owned.env);
    return slot.h;
  }
  const check = async (h: Handler, value: unknown): Promise<CheckResult> =>
    h.check!({ name: 'default/src', template: 'listentry', fields: value === undefined ? {} : { value } });
  const code = async (h: Handler, value: unknown): Promise<number> => (await check(h, value)).status.code;
  function tempFile(text: string): string {
    n += 1;
    const p = join(dir, `list-${n}.txt`);
    writeFileSync(p, text);
    return p;
  }
  function capture(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
    const lines: Array<{ level: number; msg: string }> = [];
    return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }), lines };
  }

  it('whitelist of STRINGS: in the list is OK, cacheable; else NOT_FOUND "<value> is not whitelisted"', async () => {
    const h = await list({ overrides: ['alice', 'bob'] });
    assert.deepEqual(await check(h, 'alice'), { status: { code: Code.OK }, validDuration: 300_000, validUseCount: 10_000 });
    assert.deepEqual((await check(h, 'Alice')).status, { code: Code.NOT_FOUND, message: 'Alice is not whitelisted' });
    assert.equal(await code(h, 42), Code.NOT_FOUND);
  });

  it('CASE_INSENSITIVE_STRINGS ignores case on both sides; caching params are answered', async () => {
    const h = await list({ overrides: ['Alice'], entryType: 'CASE_INSENSITIVE_STRINGS', cachingInterval: '10s', cachingUseCount: 5 });
    assert.deepEqual(await check(h, 'aLICE'), { status: { code: Code.OK }, validDuration: 10_000, validUseCount: 5 });
    assert.equal(await code(h, 'alicia'), Code.NOT_FOUND);
  });

  it('IP_ADDRESSES matches single addresses and CIDRs, v4 and v6, and IPv4-mapped IPv6', async () => {
    const h = await list({ overrides: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1', '172.16.5.4/30'], entryType: 'IP_ADDRESSES' });
    for (const v of ['10.1.2.3', '192.168.1.7', '2001:db8:1::5', '::1', '::ffff:10.9.9.9', '172.16.5.7']) assert.equal(await code(h, v), Code.OK, v);
    for (const v of ['11.0.0.1', '192.168.1.8', '2001:db9::1', '::2', '172.16.5.8']) assert.equal(await code(h, v), Code.NOT_FOUND, v);
    assert.deepEqual((await check(h, 'not-an-ip')).status, { code: Code.INVALID_ARGUMENT, message: 'not-an-ip is not a valid IP address' });
  });

  it('REGEX entries match unanchored, as Istio does', async () => {
    const h = await list({ overrides: ['^svc-[a-z]+$', 'admin'], entryType: 'REGEX' });
    assert.equal(await code(h, 'svc-abc'), Code.OK);
    assert.equal(await code(h, 'superadmin'), Code.OK);
    assert.equal(await code(h, 'svc-1'), Code.NOT_FOUND);
  });

  it('REGEX entries run in linear time: ^(a+)+$ against 40 a and a "!" answers (it took hours before)', async () => {
    const matcher = path.resolve(__dirname, '..', '..', '..', '..', 'adapters', 'list', 'matcher.js');
    const answer = await answerInWorker(
      `const { compileList } = require(${JSON.stringify(matcher)});
       const m = compileList('REGEX', ['^(a+)+$'], () => {});
       parentPort.postMessage([m.has('${'a'.repeat(40)}!'), m.has('aaaa')]);`,
      20_000,
    );
    assert.deepEqual(answer, [false, true]);
  });

  it('REGEX: refuses overrides that cannot run in linear time; a value over MAX_REGEX_INPUT is INVALID_ARGUMENT', async () => {
    await assert.rejects(list({ overrides: ['(a)\\1'], entryType: 'REGEX' }), /overrides\[0\]: "\(a\)\\1" cannot be used: cannot be matched in linear time/);
    for (const blacklist of [false, true]) {
      const h = await list({ overrides: ['a'], entryType: 'REGEX', blacklist });
      assert.equal(await code(h, 'b'.repeat(MAX_REGEX_INPUT + 1)), Code.INVALID_ARGUMENT);
    }
  });

  it('blacklist: in the list is PERMISSION_DENIED "<value> is blacklisted", else OK', async () => {
    const h = await list({ overrides: ['10.0.0.0/8'], entryType: 'IP_ADDRESSES', blacklist: true });
    assert.deepEqual((await check(h, '10.2.3.4')).status, { code: Code.PERMISSION_DENIED, message: '10.2.3.4 is blacklisted' });
    assert.equal(await code(h, '8.8.8.8'), Code.OK);
  });

  it('a missing value is NOT_FOUND for a whitelist and OK for a blacklist', async () => {
    assert.equal(await code(await list({ overrides: ['a'] }), undefined), Code.NOT_FOUND);
    assert.equal(await code(await list({ overrides: ['a'], blacklist: true }), undefined), Code.OK);
  });

  it('rejects overrides that are invalid for the entry type, naming them', async () => {
    await assert.rejects(list({ overrides: ['10.0.0.1', '10.0.0.300'], entryType: 'IP_ADDRESSES' }), /overrides\[1\]: "10\.0\.0\.300"/);
    await assert.rejects(list({ overrides: ['('], entryType: 'REGEX' }), /overrides\[0\]: "\(" cannot be used: invalid regular expression/);
  });

  it('reads only regular files: a device, a FIFO or a directory is refused without being read; a symlink to a file is fine', async () => {
    const fifo = join(dir, 'list.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const file of ['/dev/zero', fifo, dir]) {
      await assert.rejects(list({ file }), new RegExp(`params\\.file: cannot load .*: .* is not a regular file`), file);
    }
    const link = join(dir, 'link.txt');
    symlinkSync(tempFile('linked\n'), link);
    assert.equal(await code(await list({ file: link }), 'linked'), Code.OK);
  });

  it('rejects a missing file, both providerUrl and file, and a ttl not above refreshInterval', async () => {
    await assert.rejects(list({ file: join(dir, 'no-such.txt') }), /params\.file: cannot load .*no-such\.txt.*ENOENT/);
    await assert.rejects(list({ file: tempFile('a'), providerUrl: 'http://127.0.0.1:1/x' }), /providerUrl or file, not both/);
    await assert.rejects(list({ file: tempFile('a'), refreshInterval: '10s', ttl: '10s' }), /ttl: must be longer/);
  });

  it('loads a file (comments, blanks), skips invalid entries with one log line, and picks up a rewritten file', async () => {
    const { logger, lines } = capture();
    const file = tempFile('# allowed networks\n10.0.0.0/8\n\nnot-a-network\n  192.168.0.1  \n300.1.1.1\n');
    const h = await list({ file, entryType: 'IP_ADDRESSES', refreshInterval: '20ms', ttl: '10s' }, logger);
    assert.equal(await code(h, '10.4.4.4'), Code.OK);
    assert.equal(await code(h, '192.168.0.1'), Code.OK);
    assert.equal(await code(h, '172.16.0.1'), Code.NOT_FOUND);
    const skipped = lines.filter((l) => l.msg === 'list: skipped invalid entries');
    assert.equal(skipped.length, 1);
    assert.equal((skipped[0] as unknown as { skipped: number }).skipped, 2);

    writeFileSync(file, '172.16.0.0/12\n');
    await waitFor(async () => (await code(h, '172.16.0.1')) === Code.OK, { what: 'rewritten file to be loaded' });
    assert.equal(await code(h, '10.4.4.4'), Code.NOT_FOUND);
    assert.equal(lines.filter((l) => l.msg === 'list: skipped invalid entries').length, 1);
  });

  describe('providerUrl', () => {
    let body = '';
    let status = 200;
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    let url = '';
    before(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/list`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    beforeEach(() => {
      body = '';
      status = 200;
      hits = 0;
    });

    it('loads at create and reloads every refreshInterval; invalid entries are logged once per content', async () => {
      const { logger, lines } = capture();
      body = 'alpha\n(bad\nbeta\n';
      const h = await list({ providerUrl: url, entryType: 'REGEX', refreshInterval: '20ms', ttl: '10s', blacklist: true }, logger);
      assert.equal(await code(h, 'alpha'), Code.PERMISSION_DENIED);
      assert.equal(await code(h, 'gamma'), Code.OK);
      await waitFor(() => hits >= 4, { what: 'several reloads' });
      assert.equal(lines.filter((l) => l.msg === 'list: skipped invalid entries').length, 1);
      body = 'gamma\n';
      await waitFor(async () => (await code(h, 'gamma')) === Code.PERMISSION_DENIED, { what: 'new provider content' });
      assert.equal(await code(h, 'alpha'), Code.OK);
    });

    it('keeps entries through failed reloads until ttl, then answers UNAVAILABLE (overrides still answer); recovers', async () => {
      body = 'alpha\n';
      const h = await list({ providerUrl: url, overrides: ['local'], refreshInterval: '20ms', ttl: '300ms' });
      status = 500;
      assert.equal(await code(h, 'alpha'), Code.OK, 'entries survive failed reloads within ttl');
      const stale = await waitFor(
        async () => {
          const r = await check(h, 'alpha');
          return r.status.code === Code.UNAVAILABLE ? r : undefined;
        },
        { what: 'the list to go stale' },
      );
      assert.match(stale.status.message ?? '', /stale.*HTTP 500/);
      assert.equal(stale.validDuration, 0);
      assert.equal(await code(h, 'local'), Code.OK);
      status = 200;
      await waitFor(async () => (await code(h, 'alpha')) === Code.OK, { what: 'recovery' });
    });

    it('an unreachable provider at start: overrides only, UNAVAILABLE for the rest, retried until it answers', async () => {
      status = 503;
      const h = await list({ providerUrl: url, overrides: ['local'], refreshInterval: '20ms', ttl: '1s' });
      assert.equal(await code(h, 'local'), Code.OK);
      assert.equal(await code(h, 'alpha'), Code.UNAVAILABLE);
      body = 'alpha\n';
      status = 200;
      await waitFor(async () => (await code(h, 'alpha')) === Code.OK, { what: 'a retry to succeed' });
    });

    it('a provider that refuses connections does not fail create', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const h = await list({ providerUrl: `http://127.0.0.1:${port}/x`, overrides: ['local'], refreshInterval: '1s', ttl: '2s' });
      assert.equal(await code(h, 'local'), Code.OK);
      assert.match((await check(h, 'other')).status.message ?? '', /stale: cannot load/);
    });
  });
});
