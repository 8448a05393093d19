import { strict as assert } from 'node:assert';
import { startMixer, postJson } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';

const QUOTA = `apiVersion: mixer/v1
kind: Handler
metadata: {name: local-quota}
spec:
  adapter: memquota
  params:
    quotas: [{name: requestcount, maxAmount: 100000, validDuration: 1s}]
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: requestcount}
spec: {template: quota, params: {dimensions: {destination: destination.service.name | "unknown"}}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: quota-all}
spec:
  actions: [{handler: local-quota, instances: [requestcount]}]
`;

describe('bad check input gets a clear 4xx and the service keeps serving', function () {
  this.timeout(30_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;

  before(async () => {
    cfg = new TempConfigDir();
    cfg.write('quota.yaml', QUOTA);
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_MAX_BODY_BYTES: '4096', MIXER_MAX_ATTRIBUTES: '8' });
  });
  after(async () => {
    await mixer?.stop();
    cfg?.cleanup();
  });

  const cases: Array<{ name: string; body: unknown; status: number; code: string; field: string }> = [
    { name: 'malformed JSON', body: '{"attributes": {', status: 400, code: 'MIXER_ERR_BAD_JSON', field: 'body' },
    { name: 'a non-object bag', body: { attributes: ['source.ip'] }, status: 400, code: 'MIXER_ERR_BAD_REQUEST', field: 'attributes' },
    {
      name: 'an undeclared attribute',
      body: { attributes: { 'source.nickname': 'x' } },
      status: 400,
      code: 'MIXER_ERR_ATTRIBUTE_UNKNOWN',
      field: 'attributes.source.nickname',
    },
    {
      name: 'a string for INT64',
      body: { attributes: { 'response.code': '200' } },
      status: 400,
      code: 'MIXER_ERR_ATTRIBUTE_TYPE',
      field: 'attributes.response.code',
    },
    { name: '1.5 for INT64', body: { attributes: { 'response.code': 1.5 } }, status: 400, code: 'MIXER_ERR_ATTRIBUTE_TYPE', field: 'attributes.response.code' },
    {
      name: 'a bad duration',
      body: { attributes: { 'response.duration': '5 parsecs' } },
      status: 400,
      code: 'MIXER_ERR_ATTRIBUTE_TYPE',
      field: 'attributes.response.duration',
    },
    {
      name: 'a bad timestamp',
      body: { attributes: { 'request.time': '2024-13-01T00:00:00Z' } },
      status: 400,
      code: 'MIXER_ERR_ATTRIBUTE_TYPE',
      field: 'attributes.request.time',
    },
    { name: 'a bad IP', body: { attributes: { 'source.ip': '10.0.0' } }, status: 400, code: 'MIXER_ERR_ATTRIBUTE_TYPE', field: 'attributes.source.ip' },
    { name: 'an oversized body', body: { attributes: { 'request.path': 'x'.repeat(5000) } }, status: 413, code: 'MIXER_ERR_BODY_TOO_LARGE', field: 'body' },
    {
      name: 'too many attributes',
      body: {
        attributes: Object.fromEntries(
          [
            'request.path',
            'request.host',
            'request.method',
            'request.scheme',
            'request.id',
            'request.useragent',
            'request.referer',
            'request.reason',
            'api.service',
          ].map((n) => [n, 'x']),
        ),
      },
      status: 400,
      code: 'MIXER_ERR_TOO_MANY_ATTRIBUTES',
      field: 'attributes.api.service',
    },
    {
      name: 'an unknown quota',
      body: { attributes: {}, quotas: { nosuchquota: { amount: 1 } } },
      status: 400,
      code: 'MIXER_ERR_UNKNOWN_QUOTA',
      field: 'quotas.nosuchquota',
    },
    {
      name: 'a quota named __proto__ (not silently dropped)',
      body: '{"attributes": {}, "quotas": {"__proto__": {"amount": 1}}}',
      status: 400,
      code: 'MIXER_ERR_BAD_REQUEST',
      field: 'quotas.__proto__',
    },
    {
      name: 'a dedupId over 256 characters',
      body: { attributes: {}, dedupId: 'd'.repeat(257) },
      status: 400,
      code: 'MIXER_ERR_BAD_REQUEST',
      field: 'dedupId',
    },
    {
      name: 'a bad quota amount',
      body: { attributes: {}, quotas: { requestcount: { amount: 0 } } },
      status: 400,
      code: 'MIXER_ERR_BAD_REQUEST',
      field: 'quotas.requestcount.amount',
    },
  ];

  for (const c of cases) {
    it(`answers ${c.status} ${c.code} for ${c.name}, naming ${c.field}`, async () => {
      const r = await postJson(`${mixer.url}/v1/check`, c.body);
      assert.equal(r.status, c.status, JSON.stringify(r.body));
      assert.equal(r.body.error.code, c.code);
      assert.equal(typeof r.body.error.message, 'string');
      assert.ok(
        r.body.error.details.some((d: { field: string }) => d.field === c.field),
        `details ${JSON.stringify(r.body.error.details)} name ${c.field}`,
      );
    });
  }

  it('keeps serving: a valid check succeeds after all of the above, with the quota charged', async () => {
    const r = await postJson(`${mixer.url}/v1/check`, {
      attributes: { 'destination.service.name': 'backend', 'response.code': 200 },
      quotas: { requestcount: { amount: 2 } },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.status.code, 0);
    assert.deepEqual(r.body.quotas, { requestcount: { grantedAmount: 2, validDuration: '1s' } });
    const metrics = await (await fetch(`${mixer.url}/metrics`)).text();
    assert.match(metrics, /mixer_request_errors_total\{route="check",code="MIXER_ERR_ATTRIBUTE_TYPE"\} 5/);
  });

  it('answers 405 for GET /v1/check and 404 JSON for unknown routes', async () => {
    const r = await fetch(`${mixer.url}/v1/check`);
    assert.equal(r.status, 405);
    assert.equal(((await r.json()) as any).error.code, 'MIXER_ERR_METHOD_NOT_ALLOWED');
    const n = await fetch(`${mixer.url}/nope`);
    assert.equal(n.status, 404);
    assert.equal(((await n.json()) as any).error.code, 'MIXER_ERR_NOT_FOUND');
  });
});
