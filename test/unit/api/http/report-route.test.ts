import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeReportBody } from '../../../../src/api/http/report-route';
import type { ReportRouteDeps } from '../../../../src/api/http/report-route';
import { DEFAULT_LIMITS } from '../../../../src/attributes/decode';
import { REDACTED_VALUE, parseRedactedHeaders } from '../../../../src/attributes/redact';
import { BUILTIN_ADAPTERS } from '../../../../adapters/index';
import { compileConfig } from '../../../../src/config/compile';
import { parseConfigText } from '../../../../src/config/load';
import type { AdapterFactory } from '../../../../src/sdk/adapter';

const RULES = path.resolve(__dirname, '../../../../../rules');

function deps(redact?: ReadonlySet<string>): Pick<ReportRouteDeps, 'store' | 'limits' | 'redact'> {
  const loaded = parseConfigText(readFileSync(path.join(RULES, 'attributes.yaml'), 'utf8'), 'rules/attributes.yaml', {});
  const inventory = new Map<string, AdapterFactory>(BUILTIN_ADAPTERS.map((f) => [f.name, f]));
  const { plan } = compileConfig(loaded.objects, inventory);
  assert.ok(plan);
  const store = { current: { plan } } as unknown as ReportRouteDeps['store'];
  return { store, limits: { ...DEFAULT_LIMITS, maxBodyBytes: 1 << 20, maxBags: 100 }, redact };
}

describe('api/http/report-route: credentials never reach the queue', () => {
  const body = {
    attributes: [
      { 'request.headers': { authorization: 'Bearer secret-token', cookie: 'sid=1', accept: '*/*' }, 'response.headers': { 'set-cookie': 'sid=2' } },
      { 'request.path': '/' },
    ],
  };

  it('redacts authorization, cookie, proxy-authorization and set-cookie from every bag by default', () => {
    const [a, b] = decodeReportBody(structuredClone(body), deps());
    assert.deepEqual(a['request.headers'], { authorization: REDACTED_VALUE, cookie: REDACTED_VALUE, accept: '*/*' });
    assert.deepEqual(a['response.headers'], { 'set-cookie': REDACTED_VALUE });
    assert.deepEqual(b, { 'request.path': '/' });
    assert.doesNotMatch(JSON.stringify([a, b]), /secret-token|sid=/);
  });

  it('follows MIXER_REDACT_HEADERS: none keeps everything', () => {
    const [a] = decodeReportBody(structuredClone(body), deps(parseRedactedHeaders('none')));
    assert.equal((a['request.headers'] as Record<string, string>).authorization, 'Bearer secret-token');
  });
});
