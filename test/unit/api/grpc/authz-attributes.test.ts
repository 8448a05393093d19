import { strict as assert } from 'node:assert';
import { attributesOfAuthz, namespaceOfPrincipal } from '../../../../src/api/grpc/authz-attributes';
import { authzVerdict } from '../../../../src/api/grpc/authz-verdict';
import type { CheckAnswer } from '../../../../src/policy/check';

const vocab = new Map([['request.auth.principal', 'STRING']]);

describe('api/grpc ext_authz AttributeContext → attributes', () => {
  it('maps peers, the HTTP request, the service host and context extensions', () => {
    const raw = attributesOfAuthz(
      {
        source: {
          address: { socket_address: { address: '10.0.0.7', port_value: 4000 } },
          principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
          labels: { app: 'frontend' },
        },
        destination: {
          address: { socket_address: { address: '10.0.0.9', port_value: 8080 } },
          labels: { app: 'backend', 'service.istio.io/workload-name': 'backend-v1' },
        },
        request: {
          time: { seconds: '1700000000', nanos: 0 },
          http: {
            id: 'r1',
            method: 'POST',
            path: '/a?b=1',
            host: 'backend.shop.svc.cluster.local:8080',
            scheme: 'https',
            size: '42',
            protocol: 'HTTP/2',
            headers: { 'user-agent': 'ua' },
          },
        },
        context_extensions: { 'mixer.fail_open': 'true' },
        metadata_context: {
          filter_metadata: { istio_authn: { fields: { 'request.auth.principal': { stringValue: 'issuer/sub' }, other: { stringValue: 'x' } } } },
        },
      },
      vocab,
    );
    assert.deepEqual(raw, {
      'source.ip': '10.0.0.7',
      'source.port': 4000,
      'source.principal': 'spiffe://cluster.local/ns/shop/sa/frontend',
      'source.namespace': 'shop',
      'source.labels': { app: 'frontend' },
      'destination.ip': '10.0.0.9',
      'destination.port': 8080,
      'destination.labels': { app: 'backend', 'service.istio.io/workload-name': 'backend-v1' },
      'destination.workload.name': 'backend-v1',
      'request.time': '2023-11-14T22:13:20Z',
      'request.method': 'POST',
      'request.path': '/a?b=1',
      'request.url_path': '/a',
      'request.host': 'backend.shop.svc.cluster.local:8080',
      'request.scheme': 'https',
      'request.id': 'r1',
      'request.useragent': 'ua',
      'request.size': 42,
      'request.headers': { 'user-agent': 'ua' },
      'context.protocol': 'http2',
      'destination.service.host': 'backend.shop.svc.cluster.local',
      'destination.service.name': 'backend',
      'destination.service.namespace': 'shop',
      'context.extensions': { 'mixer.fail_open': 'true' },
      'request.auth.principal': 'issuer/sub',
    });
    assert.equal(namespaceOfPrincipal('spiffe://td/ns/a/sa/b'), 'a');
    assert.equal(namespaceOfPrincipal('not-spiffe'), undefined);
  });

  it('takes labels from x-mixer-*-labels headers when the peers carry none', () => {
    const raw = attributesOfAuthz(
      {
        source: { labels: {} },
        request: {
          http: { method: 'GET', path: '/', headers: { 'x-mixer-source-labels': 'app=frontend, version=v1', 'x-mixer-destination-labels': 'app=backend' } },
        },
      },
      vocab,
    );
    assert.deepEqual(raw['source.labels'], { app: 'frontend', version: 'v1' });
    assert.deepEqual(raw['destination.labels'], { app: 'backend' });
    const peer = attributesOfAuthz({ source: { labels: { app: 'real' } }, request: { http: { headers: { 'x-mixer-source-labels': 'app=forged' } } } }, vocab);
    assert.deepEqual(peer['source.labels'], { app: 'real' }, "the peer's own labels win");
  });

  it('maps answers to Envoy: 403 with the message, 429, 503 unless the route fails open', () => {
    const a = (code: number, message = 'm'): CheckAnswer => ({
      status: { code, message },
      validDuration: 0,
      validUseCount: 0,
      referencedAttributes: [],
      configGeneration: 1,
    });
    assert.deepEqual(authzVerdict(a(0), undefined), { allowed: true, httpStatus: 200, code: 0, message: 'm', headers: {} });
    assert.equal(authzVerdict(a(7), undefined).httpStatus, 403);
    assert.equal(authzVerdict(a(8), undefined).httpStatus, 429);
    assert.equal(authzVerdict(a(14), undefined).httpStatus, 503);
    assert.equal(authzVerdict(a(14), undefined).allowed, false);
    const open = authzVerdict(a(14, 'handler x failed'), { 'mixer.fail_open': 'true' });
    assert.equal(open.allowed, true);
    assert.equal(open.headers['x-mixer-fail-open'], 'handler x failed');
    assert.equal(authzVerdict(a(7), { 'mixer.fail_open': 'true' }).allowed, false, 'only a failure fails open, never a denial');
  });
});
