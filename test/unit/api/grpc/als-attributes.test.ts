import { strict as assert } from 'node:assert';
import { attributesOfHttpEntry, attributesOfTcpEntry, parseIstioCluster, shortFlags } from '../../../../src/api/grpc/als-attributes';
import { workloadOfNode } from '../../../../src/api/grpc/node-identity';

const vocab = new Map<string, string>([
  ['source.workload.name', 'STRING'],
  ['response.code', 'INT64'],
  ['connection.mtls', 'BOOL'],
]);

describe('api/grpc ALS entries → report bags', () => {
  it('reads Istio node ids, node metadata, and the cluster as the app otherwise', () => {
    const w = workloadOfNode({ id: 'sidecar~10.1.0.5~reviews-v1-6b8c9c5d8f-x2x7q.shop~shop.svc.cluster.local', cluster: 'reviews.shop' });
    assert.deepEqual(w, {
      labels: { app: 'reviews' },
      ip: '10.1.0.5',
      name: 'reviews-v1-6b8c9c5d8f-x2x7q',
      namespace: 'shop',
      workloadName: 'reviews-v1',
      uid: 'kubernetes://reviews-v1-6b8c9c5d8f-x2x7q.shop',
      proxyVersion: undefined,
    });
    const m = workloadOfNode({
      id: 'envoy-1',
      cluster: 'ignored',
      metadata: {
        fields: {
          NAME: { stringValue: 'p' },
          NAMESPACE: { stringValue: 'n' },
          WORKLOAD_NAME: { stringValue: 'wl' },
          LABELS: { structValue: { fields: { app: { stringValue: 'a' } } } },
        },
      },
    });
    assert.equal(m.workloadName, 'wl');
    assert.deepEqual(m.labels, { app: 'a' });
    assert.deepEqual(workloadOfNode({ id: 'front-envoy', cluster: 'shop-front' }).labels, { app: 'shop-front' });
  });

  it('parses Istio cluster names and Envoy response flags', () => {
    assert.deepEqual(parseIstioCluster('outbound|9080|v2|reviews.shop.svc.cluster.local'), {
      direction: 'outbound',
      port: 9080,
      subset: 'v2',
      host: 'reviews.shop.svc.cluster.local',
    });
    assert.equal(parseIstioCluster('outbound_.9080_._.reviews'), undefined);
    assert.equal(shortFlags(undefined), '-');
    assert.equal(shortFlags({ no_healthy_upstream: true, upstream_retry_limit_exceeded: true, local_reset: false }), 'UH,URX');
    assert.equal(shortFlags({ unauthorized_details: { reason: 'EXTERNAL_SERVICE' } }), 'UAEX');
  });

  it('an outbound entry speaks for the source; an inbound one for the destination, with the peer SAN and mTLS', () => {
    const node = workloadOfNode({ id: 'sidecar~10.1.0.5~frontend-v1-abcdefghi-x2x7q.shop~shop.svc.cluster.local', cluster: 'frontend.shop' });
    const entry = {
      common_properties: {
        upstream_cluster: 'outbound|80|v1|backend.shop.svc.cluster.local',
        upstream_remote_address: { socket_address: { address: '10.1.0.9', port_value: 80 } },
        start_time: { seconds: '1700000000' },
        time_to_last_downstream_tx_byte: { nanos: 25_000_000 },
        response_flags: { upstream_connection_failure: true },
      },
      protocol_version: 'HTTP2',
      request: { request_method: 'GET', authority: 'backend', path: '/x?y', request_id: 'r', request_body_bytes: '3', request_headers_bytes: '7' },
      response: { response_code: { value: 503 }, response_body_bytes: '10' },
    };
    const out = attributesOfHttpEntry(entry, node, vocab);
    assert.equal(out['context.reporter.kind'], 'outbound');
    assert.equal(out['source.workload.name'], 'frontend-v1');
    assert.deepEqual(out['source.labels'], { app: 'frontend' });
    assert.equal(out['destination.service.host'], 'backend.shop.svc.cluster.local');
    assert.equal(out['destination.service.namespace'], 'shop');
    assert.deepEqual(out['destination.labels'], { version: 'v1' });
    assert.equal(out['destination.ip'], '10.1.0.9');
    assert.equal(out['response.code'], 503);
    assert.equal(out['response.duration'], '25ms');
    assert.equal(out['request.size'], 3);
    assert.equal(out['request.total_size'], 10);
    assert.equal(out['context.proxy_error_code'], 'UF');
    assert.equal(out['context.protocol'], 'http2');
    assert.equal(out['connection.mtls'], undefined, 'the client side does not say');

    const inbound = attributesOfHttpEntry(
      {
        ...entry,
        common_properties: {
          ...entry.common_properties,
          upstream_cluster: 'inbound|80|http|backend.shop.svc.cluster.local',
          downstream_remote_address: { socket_address: { address: '10.1.0.5', port_value: 5000 } },
          tls_properties: { peer_certificate_properties: { subject_alt_name: [{ dns: 'x' }, { uri: 'spiffe://cluster.local/ns/shop/sa/frontend' }] } },
          custom_tags: { 'source.workload.name': 'frontend-v1', 'source.labels.app': 'frontend', 'response.code': '201' },
        },
      },
      workloadOfNode({ id: 'sidecar~10.1.0.9~backend-v1-abcdefghi-k2j4h.shop~shop.svc.cluster.local' }),
      vocab,
    );
    assert.equal(inbound['context.reporter.kind'], 'inbound');
    assert.equal(inbound['destination.workload.name'], 'backend-v1');
    assert.equal(inbound['source.ip'], '10.1.0.5');
    assert.equal(inbound['source.principal'], 'spiffe://cluster.local/ns/shop/sa/frontend');
    assert.equal(inbound['connection.mtls'], true);
    assert.equal(inbound['source.workload.name'], 'frontend-v1');
    assert.deepEqual(inbound['source.labels'], { app: 'frontend' });
    assert.equal(inbound['response.code'], 201, 'a custom tag typed by the manifest');
  });

  it('a TCP entry carries the bytes of its connection and its event', () => {
    const out = attributesOfTcpEntry(
      {
        common_properties: { upstream_cluster: 'outbound|5432||db.data.svc.cluster.local', access_log_type: 'TcpConnectionEnd', duration: { seconds: '2' } },
        connection_properties: { sent_bytes: '10', received_bytes: '20' },
      },
      workloadOfNode(undefined),
      vocab,
    );
    assert.equal(out['context.protocol'], 'tcp');
    assert.equal(out['connection.sent.bytes'], 10);
    assert.equal(out['connection.received.bytes'], 20);
    assert.equal(out['connection.event'], 'close');
    assert.equal(out['connection.duration'], '2s');
    assert.equal(out['destination.labels'], undefined, 'an empty subset is no version');
  });

  it('under mutual TLS the reporting proxy’s principal is its certificate’s, over a custom tag claiming another', () => {
    const me = 'spiffe://cluster.local/ns/shop/sa/reviews';
    const node = { ...workloadOfNode(undefined), principal: me };
    const tags = {
      custom_tags: { 'destination.principal': 'spiffe://cluster.local/ns/shop/sa/admin', 'source.principal': 'spiffe://cluster.local/ns/x/sa/y' },
    };
    const inbound = attributesOfHttpEntry(
      { common_properties: { upstream_cluster: 'inbound|9080|http|reviews.shop.svc.cluster.local', ...tags } },
      node,
      vocab,
    );
    assert.equal(inbound['destination.principal'], me);
    const outbound = attributesOfHttpEntry({ common_properties: { upstream_cluster: 'outbound|9080||ratings.shop.svc.cluster.local', ...tags } }, node, vocab);
    assert.equal(outbound['source.principal'], me);
    assert.equal(outbound['destination.principal'], 'spiffe://cluster.local/ns/shop/sa/admin', 'the other side stays as reported');
    const plain = attributesOfHttpEntry(
      { common_properties: { upstream_cluster: 'inbound|9080|http|reviews.shop.svc.cluster.local' } },
      workloadOfNode(undefined),
      vocab,
    );
    assert.equal(plain['destination.principal'], undefined, 'no certificate: no principal invented');
  });
});
