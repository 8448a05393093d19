import { strict as assert } from 'node:assert';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { proxyServer } from '../../../../src/mesh/sidecar/core';
import type { ProxyHandler } from '../../../../src/mesh/sidecar/core';

describe('mesh/sidecar/core proxyServer', () => {
  it('a handler that throws or rejects costs that request a 500 and a log line; the proxy keeps serving', async () => {
    const lines: Array<{ msg: string; url: string }> = [];
    const logger = pino({ level: 'error' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const handler: ProxyHandler = (req, res) => {
      if (req.url === '/throw') throw new Error('bug');
      if (req.url === '/reject') return Promise.reject(new Error('async bug'));
      if (req.url === '/late') {
        res.writeHead(200);
        res.write('part');
        return Promise.reject(new Error('after the headers'));
      }
      res.writeHead(200).end('ok');
    };
    const server = proxyServer(handler, logger);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const p of ['/throw', '/reject']) {
        const r = await fetch(`${base}${p}`);
        assert.equal(r.status, 500, p);
        assert.equal(await r.text(), 'proxy error\n');
      }
      await assert.rejects(async () => (await fetch(`${base}/late`)).text(), 'an answer already begun is cut, not completed as if whole');
      const ok = await fetch(`${base}/fine`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'ok');
      assert.deepEqual(
        lines.map((l) => l.url),
        ['/throw', '/reject', '/late'],
      );
      assert.match(lines[0].msg, /answered 500/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
