import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePort, REPO, startMixer } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { grpcClients, rawUnary } from '../support/grpc-clients';
import { compress, Dur } from '../support/mixer-v1-encode';
import { parsePromText, sumOf } from '../support/prom-text';
import type { Sample } from '../support/prom-text';
import { TestRedis } from '../support/redis-server';
import { waitFor } from '../support/wait';

/** Request times are near the test's own start (set in `before`): the graph counts a request at its time only within its windows. */
let T0 = Math.floor(Date.now() / 1000);
const FRONTEND_NODE = {
  id: 'sidecar~10.1.0.5~frontend-v1-6b8c9c5d8f-x2x7q.default~default.svc.cluster.local',
  cluster: 'frontend.default',
  metadata: { fields: { LABELS: { structValue: { fields: { app: { stringValue: 'frontend' }, version: { stringValue: 'v1' } } } } } },
};
const BACKEND_NODE = {
  id: 'sidecar~10.1.0.9~backend-v1-7d9f8b6c4-k2j4h.default~default.svc.cluster.local',
  cluster: 'backend.default',
  metadata: {
    fields: {
      NAME: { stringValue: 'backend-v1-7d9f8b6c4-k2j4h' },
      NAMESPACE: { stringValue: 'default' },
      WORKLOAD_NAME: { stringValue: 'backend-v1' },
      LABELS: { structValue: { fields: { app: { stringValue: 'backend' }, version: { stringValue: 'v1' } } } },
    },
  },
};

/** An HTTP entry as the frontend's Envoy logs its call to backend's subset `version`. */
function outboundEntry(i: number, version: string, code: number, requestId = `als-${i}`) {
  return {
    common_properties: {
      downstream_remote_address: { socket_address: { address: '127.0.0.6', port_value: 50000 + (i % 1000) } },
      upstream_remote_address: { socket_address: { address: '10.1.0.9', port_value: 8080 } },
      upstream_cluster: `outbound|8080|${version}|backend.default.svc.cluster.local`,
      start_time: { seconds: T0, nanos: i },
      time_to_last_downstream_tx_byte: { seconds: 0, nanos: 12_000_000 },
      response_flags: code === 503 ? { upstream_connection_failure: true } : {},
    },
    protocol_version: 'HTTP11',
    request: {
      request_method: 'GET',
      scheme: 'http',
      authority: 'backend:8080',
      path: `/items/${i}`,
      user_agent: 'curl/8',
      request_id: requestId,
      request_body_bytes: 10,
      request_headers_bytes: 90,
    },
    response: { response_code: { value: code }, response_body_bytes: 100, response_headers_bytes: 50 },
  };
}

/** The same request as the backend's Envoy logs it (inbound, mutual TLS, the caller named by custom tags). */
function inboundEntry(i: number, code: number, requestId: string) {
  const e = outboundEntry(i, 'v1', code, requestId);
  return {
    ...e,
    common_properties: {
      ...e.common_properties,
      upstream_cluster: 'inbound|8080|http|backend.default.svc.cluster.local',
      downstream_remote_address: { socket_address: { address: '10.1.0.5', port_value: 40000 } },
      downstream_local_address: { socket_address: { address: '10.1.0.9', port_value: 8080 } },
      tls_properties: { peer_certificate_properties: { subject_alt_name: [{ uri: 'spiffe://cluster.local/ns/default/sa/frontend' }] } },
      custom_tags: {
        'source.labels.app': 'frontend',
        'source.labels.version': 'v1',
        'source.workload.name': 'frontend-v1',
        'source.workload.namespace': 'default',
      },
    },
  };
}

async function scrape(url: string): Promise<Sample[]> {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

async function graphRequests(url: string, fromApp: string): Promise<number> {
  const g: any = await (await fetch(`${url}/v1/graph?window=5m`)).json();
  return g.elements.edges.filter((e: any) => e.data.source.startsWith(`app:default/${fromApp}/`)).reduce((n: number, e: any) => n + e.data.requests, 0);
}

describe('gRPC telemetry: Envoy ALS and Istio mixer v1 Report into the report pipeline (real mixer serve, real Redis)', function () {
  this.timeout(90_000);
  let cfg: TempConfigDir;
  let redis: TestRedis;
  let mixer: MixerProcess;
  let c: ReturnType<typeof grpcClients>;
  let grpcPort: number;

  before(async () => {
    // Set here, not at load: the whole suite may run for many minutes before this file's tests.
    T0 = Math.floor(Date.now() / 1000);
    redis = new TestRedis();
    await redis.start();
    cfg = new TempConfigDir();
    for (const f of ['metrics.yaml', 'graph.yaml', 'tcp-metrics.yaml']) copyFileSync(path.join(REPO, 'rules', f), path.join(cfg.dir, f));
    grpcPort = await freePort();
    mixer = await startMixer({
      MIXER_CONFIG_DIR: cfg.dir,
      REDIS_URL: redis.url,
      MIXER_GRPC_PORT: String(grpcPort),
      MIXER_KEY_PREFIX: 'grpc-test:',
      ZIPKIN_URL: '',
    });
    c = grpcClients(grpcPort);
  });
  after(async () => {
    c?.close();
    await mixer?.stop();
    await redis?.cleanup();
    cfg?.cleanup();
  });

  it('counts 500 ALS entries (1 in 10 a 503) exactly, reported by the client side, and draws them on the graph', async () => {
    const entries = Array.from({ length: 500 }, (_, i) => outboundEntry(i, i % 2 === 0 ? 'v1' : 'v2', i % 10 === 9 ? 503 : 200));
    // As Envoy does: the node on the first message only, entries in several messages.
    const messages = [];
    for (let i = 0; i < entries.length; i += 50)
      messages.push({ ...(i === 0 ? { identifier: { node: FRONTEND_NODE, log_name: 'als' } } : {}), http_logs: { log_entry: entries.slice(i, i + 50) } });
    assert.deepEqual(await c.streamLogs(messages), {});
    const s = await waitFor(
      '500 entries in istio_requests_total',
      async () => {
        const x = await scrape(mixer.url);
        return sumOf(x, 'istio_requests_total', { destination_service_name: 'backend', reporter: 'source' }) >= 500 ? x : undefined;
      },
      30_000,
      100,
    );
    for (const version of ['v1', 'v2']) {
      for (const code of [200, 503]) {
        const want = entries.filter((_, i) => (i % 2 === 0 ? 'v1' : 'v2') === version && (i % 10 === 9 ? 503 : 200) === code).length;
        const got = sumOf(s, 'istio_requests_total', {
          reporter: 'source',
          source_app: 'frontend',
          source_version: 'v1',
          source_workload: 'frontend-v1',
          source_workload_namespace: 'default',
          destination_service: 'backend.default.svc.cluster.local',
          destination_service_name: 'backend',
          destination_service_namespace: 'default',
          destination_version: version,
          response_code: String(code),
          response_flags: code === 503 ? 'UF' : '-',
          request_protocol: 'http',
        });
        assert.equal(got, want, `${version} ${code}`);
      }
    }
    assert.equal(sumOf(s, 'istio_requests_total', { destination_service_name: 'backend' }), 500);
    assert.equal(sumOf(s, 'istio_request_duration_milliseconds_count', { destination_service_name: 'backend' }), 500);
    assert.equal(sumOf(s, 'istio_request_bytes_sum', { destination_service_name: 'backend' }), 500 * 10);
    await waitFor('500 requests on the graph from frontend', async () => (await graphRequests(mixer.url, 'frontend')) === 500, 30_000, 100);
    const g: any = await (await fetch(`${mixer.url}/v1/graph?window=5m`)).json();
    const edge = g.elements.edges.find((e: any) => e.data.source === 'app:default/frontend/v1');
    assert.equal(edge.data.target, 'service:default/backend');
    assert.equal(edge.data.errors, 50);
  });

  it('counts a request reported by both sides once on the graph, and once per reporter in istio_requests_total', async () => {
    const before = await graphRequests(mixer.url, 'frontend');
    const ids = Array.from({ length: 40 }, (_, i) => `both-${i}`);
    const out = ids.map((id, i) => outboundEntry(1000 + i, 'v1', 200, id));
    const inb = ids.map((id, i) => inboundEntry(1000 + i, 200, id));
    // 10 more seen by the server's side alone.
    const alone = Array.from({ length: 10 }, (_, i) => inboundEntry(2000 + i, 200, `inbound-only-${i}`));
    await Promise.all([
      c.streamLogs([{ identifier: { node: FRONTEND_NODE }, http_logs: { log_entry: out } }]),
      c.streamLogs([{ identifier: { node: BACKEND_NODE }, http_logs: { log_entry: [...inb, ...alone] } }]),
    ]);
    const s = await waitFor(
      'both reporters counted',
      async () => {
        const x = await scrape(mixer.url);
        return sumOf(x, 'istio_requests_total', { reporter: 'destination', destination_workload: 'backend-v1' }) >= 50 ? x : undefined;
      },
      30_000,
      100,
    );
    assert.equal(
      sumOf(s, 'istio_requests_total', {
        reporter: 'destination',
        source_app: 'frontend',
        source_workload: 'frontend-v1',
        source_principal: 'spiffe://cluster.local/ns/default/sa/frontend',
        destination_workload: 'backend-v1',
        destination_app: 'backend',
        destination_version: 'v1',
        connection_security_policy: 'mutual_tls',
      }),
      50,
    );
    // Every graph job has run once the 40 second reports are seen as duplicates; then the graph holds 50 more, not 90.
    await waitFor('the 40 duplicates to be recognised', async () => sumOf(await scrape(mixer.url), 'mixer_graph_duplicate_requests_total') === 40, 30_000, 100);
    await waitFor('the graph to take 50 more requests', async () => (await graphRequests(mixer.url, 'frontend')) >= before + 50, 30_000, 100);
    assert.equal(await graphRequests(mixer.url, 'frontend'), before + 50);
    const bySource = await waitFor(
      'the client side',
      async () => {
        const n = sumOf(await scrape(mixer.url), 'istio_requests_total', { reporter: 'source', destination_service_name: 'backend' });
        return n >= 540 ? n : undefined;
      },
      30_000,
      100,
    );
    assert.equal(bySource, 540, 'the client side counts in its own series');
  });

  for (const semantics of ['DELTA_ENCODING', 'INDEPENDENT_ENCODING'] as const) {
    it(`counts a 200-bag mixer v1 Report exactly (${semantics})`, async () => {
      const service = semantics === 'DELTA_ENCODING' ? 'reviews' : 'ratings';
      const full = (i: number) => {
        const version = i < 100 ? 'v1' : 'v2';
        return {
          'source.labels': { app: 'productpage', version: 'v1' },
          'source.workload.name': 'productpage-v1',
          'source.workload.namespace': 'default',
          'destination.labels': { app: service, version },
          'destination.workload.name': `${service}-${version}`,
          'destination.workload.namespace': 'default',
          'destination.service.host': `${service}.default.svc.cluster.local`,
          'destination.service.name': service,
          'destination.service.namespace': 'default',
          'context.reporter.kind': 'inbound',
          'context.protocol': 'http',
          'request.id': `${service}-${i}`,
          'request.time': new Date(T0 * 1000 + i),
          'response.duration': new Dur(7.5),
          'response.code': i % 10 === 9 ? 503 : 200,
        } as Record<string, unknown>;
      };
      let req: Record<string, unknown>;
      if (semantics === 'DELTA_ENCODING') {
        // Each element carries only what changed since the one before; its own words.
        const attributes = [];
        let prev: Record<string, unknown> = {};
        for (let i = 0; i < 200; i++) {
          const cur = full(i);
          const changed = Object.fromEntries(Object.entries(cur).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(prev[k])));
          attributes.push(compress(changed));
          prev = cur;
        }
        req = { attributes, global_word_count: 222 };
      } else {
        // Self-contained elements without words of their own: default_words serve them all.
        const words: string[] = [];
        const attributes = Array.from({ length: 200 }, (_, i) => compress(full(i), words, false));
        req = { attributes, default_words: words, global_word_count: 222, repeated_attributes_semantics: semantics };
      }
      assert.deepEqual(await c.mixerReport(req), {});
      const s = await waitFor(
        `200 ${service} reports`,
        async () => {
          const x = await scrape(mixer.url);
          return sumOf(x, 'istio_requests_total', { destination_service_name: service }) >= 200 ? x : undefined;
        },
        30_000,
        100,
      );
      for (const version of ['v1', 'v2']) {
        for (const code of [200, 503]) {
          const want = Array.from({ length: 200 }, (_, i) => i).filter(
            (i) => (i < 100 ? 'v1' : 'v2') === version && (i % 10 === 9 ? 503 : 200) === code,
          ).length;
          const got = sumOf(s, 'istio_requests_total', {
            reporter: 'destination',
            source_app: 'productpage',
            source_workload: 'productpage-v1',
            destination_app: service,
            destination_workload: `${service}-${version}`,
            destination_version: version,
            destination_service: `${service}.default.svc.cluster.local`,
            response_code: String(code),
          });
          assert.equal(got, want, `${service} ${version} ${code}`);
        }
      }
      assert.equal(sumOf(s, 'istio_requests_total', { destination_service_name: service }), 200);
      await waitFor(
        'the graph',
        async () => {
          const g: any = await (await fetch(`${mixer.url}/v1/graph?window=5m`)).json();
          const n = g.elements.edges
            .filter((e: any) => e.data.target.startsWith(`app:default/${service}/`))
            .reduce((a: number, e: any) => a + e.data.requests, 0);
          return n === 200;
        },
        30_000,
        100,
      );
    });
  }

  it('counts TCP entries in istio_tcp_*', async () => {
    const tcp = (i: number, type: string, sent: number, received: number) => ({
      common_properties: { upstream_cluster: 'outbound|5432||postgres.db.svc.cluster.local', access_log_type: type, stream_id: `c-${i}` },
      connection_properties: { sent_bytes: sent, received_bytes: received },
    });
    await c.streamLogs([
      {
        identifier: { node: FRONTEND_NODE },
        tcp_logs: { log_entry: [tcp(1, 'TcpUpstreamConnected', 0, 0), tcp(1, 'TcpConnectionEnd', 1500, 300), tcp(2, 'TcpConnectionEnd', 500, 100)] },
      },
    ]);
    const s = await waitFor(
      'tcp counts',
      async () => {
        const x = await scrape(mixer.url);
        return sumOf(x, 'istio_tcp_connections_closed_total') >= 2 ? x : undefined;
      },
      30_000,
      100,
    );
    const who = { reporter: 'source', source_workload: 'frontend-v1', destination_service_name: 'postgres' };
    assert.equal(sumOf(s, 'istio_tcp_sent_bytes_total', who), 2000);
    assert.equal(sumOf(s, 'istio_tcp_received_bytes_total', who), 400);
    assert.equal(sumOf(s, 'istio_tcp_connections_opened_total', who), 1);
    assert.equal(sumOf(s, 'istio_tcp_connections_closed_total', who), 2);
    assert.equal(sumOf(s, 'istio_requests_total', { destination_service_name: 'postgres' }), 0, 'TCP is not an HTTP request');
  });

  it('answers bad input with INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the problem; other streams and the process carry on', async () => {
    // A stream that stays open through all of it.
    let answered: unknown;
    const open = (c.als as any).StreamAccessLogs((e: unknown, v: unknown) => (answered = e ?? v));
    open.write({ identifier: { node: FRONTEND_NODE }, http_logs: { log_entry: [outboundEntry(5000, 'v1', 200, 'steady-1')] } });

    const invalid = (what: RegExp) => (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && what.test(e.details);
    for (const p of ['/istio.mixer.v1.Mixer/Check', '/istio.mixer.v1.Mixer/Report', '/envoy.service.auth.v3.Authorization/Check']) {
      await assert.rejects(rawUnary(grpcPort, p, Buffer.from([0x0a, 0xff, 0xff, 0x01])), invalid(/malformed protobuf/));
    }
    await assert.rejects(c.mixerReport({ attributes: [{ strings: { 4000: 1 } }] }), invalid(/word index 4000 is past the global dictionary/));
    await assert.rejects(c.mixerCheck({ attributes: { words: ['x'], strings: { '-5': -1 } } }), invalid(/word index -5 is past the message's own words/));
    await assert.rejects(c.mixerReport({ attributes: [{ int64s: { 191: 3 } }] }), invalid(/destination\.service\.name: expected STRING/));
    await assert.rejects(c.mixerReport({ attributes: [compress({ 'no.such.attribute': 'x' })] }), invalid(/no\.such\.attribute: attribute is not declared/));
    await assert.rejects(
      c.streamLogs([{ http_logs: { log_entry: [{ ...outboundEntry(1, 'v1', 200), common_properties: { custom_tags: { 'no.such.tag': 'x' } } }] } }]),
      invalid(/no\.such\.tag/),
    );
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const exhausted = (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/.test(e.details);
    await assert.rejects(c.mixerReport({ attributes: [{ words: [huge] }] }), exhausted);
    await assert.rejects(c.streamLogs([{ http_logs: { log_entry: [{ request: { path: huge } }] } }]), exhausted);
    await assert.rejects(c.authzCheck({ attributes: { request: { http: { path: huge } } } }), exhausted);

    open.write({ http_logs: { log_entry: [outboundEntry(5001, 'v1', 200, 'steady-2')] } });
    open.end();
    await waitFor('the open stream to be answered', () => answered !== undefined);
    assert.deepEqual(answered, {}, 'the steady stream ends OK');
    assert.equal(mixer.child.exitCode, null);
    assert.equal((await c.authzCheck({ attributes: {} })).status.code, 0);
  });

  it('with Redis down, ALS and Report answer UNAVAILABLE while Check keeps serving', async () => {
    await redis.stop();
    const unavailable = (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && /MIXER_ERR_QUEUE_UNAVAILABLE/.test(e.details);
    await waitFor(
      'Report to answer UNAVAILABLE',
      async () => {
        try {
          await c.mixerReport({ attributes: [compress({ 'destination.service.name': 'down' })] });
          return false;
        } catch (e) {
          return unavailable(e as grpc.ServiceError);
        }
      },
      15_000,
      200,
    );
    await assert.rejects(c.streamLogs([{ identifier: { node: FRONTEND_NODE }, http_logs: { log_entry: [outboundEntry(9000, 'v1', 200)] } }]), unavailable);
    assert.equal((await c.authzCheck({ attributes: { source: { labels: { app: 'frontend' } } } })).status.code, 0);
    assert.equal((await c.mixerCheck({ attributes: compress({ 'destination.service.name': 'backend' }) })).precondition.status.code, 0);
  });
});
