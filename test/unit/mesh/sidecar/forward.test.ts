import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { relay, responseHeaders, scanHeaders, tryUpstream, upstreamAgent } from '../../../../src/mesh/sidecar/forward';

describe('mesh/sidecar/forward', () => {
  describe('scanHeaders', () => {
    it('forwards end-to-end headers raw, names as sent, and maps them lower-case', () => {
      const h = scanHeaders(['Host', 'backend', 'Connection', 'keep-alive', 'X-Trace', 'a', 'User-Agent', 'curl/8', 'Keep-Alive', 'timeout=5']);
      assert.deepEqual(h.forward, ['Host', 'backend', 'X-Trace', 'a', 'User-Agent', 'curl/8']);
      assert.deepEqual(h.map, { host: 'backend', 'x-trace': 'a', 'user-agent': 'curl/8' });
      assert.equal(h.hasBody, false);
    });

    it('joins repeats as Node does: first wins for singletons, cookies with "; ", others with ", "', () => {
      const h = scanHeaders(['host', 'a', 'Host', 'b', 'cookie', 'x=1', 'cookie', 'y=2', 'accept', 'text/html', 'Accept', 'application/json']);
      assert.deepEqual(h.map, { host: 'a', cookie: 'x=1; y=2', accept: 'text/html, application/json' });
      assert.deepEqual(h.forward, ['host', 'a', 'Host', 'b', 'cookie', 'x=1', 'cookie', 'y=2', 'accept', 'text/html', 'Accept', 'application/json']);
    });

    it('takes one header out (every copy, joined), strips others from the forwarded list only', () => {
      const h = scanHeaders(
        ['x-mesh-identity', 'one', 'X-B3-TraceId', 'abc', 'x-mesh-identity', 'two', 'a', '1'],
        'x-mesh-identity',
        new Set(['x-b3-traceid']),
      );
      assert.equal(h.taken, 'one, two', 'two identities are one that does not verify, as Node would join them');
      assert.deepEqual(h.forward, ['a', '1']);
      assert.deepEqual(h.map, { 'x-b3-traceid': 'abc', a: '1' });
    });

    it('drops headers named in connection, and tells whether a body follows', () => {
      const h = scanHeaders(['Connection', 'keep-alive, X-Secret', 'x-secret', 's', 'content-length', '12', 'b', '2']);
      assert.deepEqual(h.forward, ['content-length', '12', 'b', '2']);
      assert.deepEqual(h.map, { 'content-length': '12', b: '2' });
      assert.deepEqual([h.hasBody, h.chunked, h.contentLength], [true, false, 12]);
      const c = scanHeaders(['Transfer-Encoding', 'chunked']);
      assert.deepEqual([c.hasBody, c.chunked, c.forward], [true, true, []]);
    });
  });

  it('responseHeaders leaves out hop-by-hop headers and those connection names', () => {
    assert.deepEqual(
      responseHeaders([
        'Content-Type',
        'text/plain',
        'Connection',
        'close, X-Hop',
        'X-Hop',
        '1',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ]),
      ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
    );
  });

  it('tryUpstream sends raw headers (a buffered body with its own length, a host when none) and relay streams the answer back', async () => {
    const seen: string[][] = [];
    const app = http.createServer((req, res) => {
      seen.push(req.rawHeaders);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(201, ['X-Echo', 'yes', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
        res.end(`got ${Buffer.concat(chunks).toString()}`);
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as AddressInfo).port;
    const agent = upstreamAgent();
    let reported: [number, boolean] | undefined;
    const proxy = http.createServer((req, res) => {
      req.resume();
      const { response } = tryUpstream({
        agent,
        host: '127.0.0.1',
        port: appPort,
        method: 'POST',
        path: '/x',
        headers: ['Content-Length', '999', 'X-A', '1'],
        body: Buffer.from('hello'),
        timeoutMs: 2000,
      });
      void response.then((up) => relay(up, res, (size, complete) => (reported = [size, complete])));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const r = await fetch(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`);
      assert.equal(r.status, 201);
      assert.equal(await r.text(), 'got hello');
      assert.equal(r.headers.get('x-echo'), 'yes');
      assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
      const sent = seen[0];
      assert.deepEqual(sent.slice(0, 6), ['X-A', '1', 'content-length', '5', 'host', `127.0.0.1:${appPort}`]);
      assert.deepEqual(reported, [9, true]);
    } finally {
      agent.destroy();
      proxy.close();
      app.close();
    }
  });
});
