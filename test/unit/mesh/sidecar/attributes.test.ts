import { strict as assert } from 'node:assert';
import { parseRedactedHeaders } from '../../../../src/attributes/redact';
import { CUT_MARK, reportHeaders, reportJson } from '../../../../src/mesh/sidecar/attributes';

describe('mesh/sidecar/attributes', () => {
  it('reportJson is the bag, the extra attributes and the response, as one JSON object', () => {
    const bag = { 'request.path': '/a"b', 'source.labels': { app: 'x' }, 'request.size': undefined };
    const text = reportJson(
      bag,
      { code: 503, size: 12, endMs: Date.UTC(2024, 0, 2, 3, 4, 5, 6), durationMs: 1.23456, flags: 'UF' },
      { 'check.cache_hit': true, skipped: undefined },
    );
    assert.deepEqual(JSON.parse(text), {
      'request.path': '/a"b',
      'source.labels': { app: 'x' },
      'check.cache_hit': true,
      'response.code': 503,
      'response.size': 12,
      'response.time': '2024-01-02T03:04:05.006Z',
      'response.duration': '1.235ms',
      'context.proxy_error_code': 'UF',
    });
    assert.deepEqual(Object.keys(JSON.parse(reportJson({}, { code: 200, size: 0, endMs: 0, durationMs: 0, flags: '-' }))), [
      'response.code',
      'response.size',
      'response.time',
      'response.duration',
      'context.proxy_error_code',
    ]);
  });

  const RESPONSE = { code: 200, size: 0, endMs: 0, durationMs: 0, flags: '-' };

  it('report bags carry credentials redacted (the check bag keeps them), by default and as configured', () => {
    const headers = { authorization: 'Bearer t0ken', cookie: 'sid=1', 'proxy-authorization': 'Basic x', accept: '*/*' };
    const bag = { 'request.headers': headers };
    const sent = JSON.parse(reportJson(bag, RESPONSE)) as { 'request.headers': Record<string, string> };
    assert.deepEqual(sent['request.headers'], { authorization: '<masked>', cookie: '<masked>', 'proxy-authorization': '<masked>', accept: '*/*' });
    assert.equal(bag['request.headers'], headers, 'the bag itself (used for the check) is not changed');
    assert.equal(headers.authorization, 'Bearer t0ken');
    const none = JSON.parse(reportJson(bag, RESPONSE, undefined, { redact: parseRedactedHeaders('none'), maxBytes: 8192 })) as typeof sent;
    assert.equal(none['request.headers'].authorization, 'Bearer t0ken');
  });

  it('caps the header bytes of a report bag: the header crossing the cap is cut with a mark, the rest left out and counted', () => {
    const headers = { host: 'backend', 'x-big': 'x'.repeat(15_000), 'x-after': 'y' };
    let cut = 0;
    const text = reportJson({ 'request.headers': headers }, RESPONSE, undefined, { redact: new Set(), maxBytes: 1024 }, (n) => (cut += n));
    const sent = (JSON.parse(text) as { 'request.headers': Record<string, string> })['request.headers'];
    assert.equal(sent.host, 'backend');
    assert.ok(sent['x-big'].endsWith(CUT_MARK));
    assert.equal(Object.keys(sent).join(), 'host,x-big');
    assert.equal(
      Object.entries(sent).reduce((n, [k, v]) => n + k.length + v.length, 0),
      1024,
    );
    assert.equal(cut, 2);
    assert.deepEqual(reportHeaders({ a: 'b' }, { redact: new Set(), maxBytes: 2 }), { headers: { a: 'b' }, cut: 0 });
  });
});
