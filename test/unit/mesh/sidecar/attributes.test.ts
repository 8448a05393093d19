import { strict as assert } from 'node:assert';
import { reportJson } from '../../../../src/mesh/sidecar/attributes';

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
});
