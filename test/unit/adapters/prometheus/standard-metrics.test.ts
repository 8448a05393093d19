import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUILTIN_ADAPTERS } from '../../../../adapters/index';
import { prometheusAdapter } from '../../../../adapters/prometheus';
import type { PrometheusConfig } from '../../../../adapters/prometheus/config';
import type { PrometheusHandler } from '../../../../adapters/prometheus/handler';
import { Bag } from '../../../../src/attributes/bag';
import type { AttributeValue } from '../../../../src/attributes/types';
import { compileConfig } from '../../../../src/config/compile';
import type { ConfigPlan } from '../../../../src/config/compile';
import { parseConfigText } from '../../../../src/config/load';
import type { InstanceDoc } from '../../../../src/config/schema';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { AdapterFactory, InstanceValue } from '../../../../src/sdk/adapter';
import { linesOf } from './helpers';

// dist/test/unit/adapters/prometheus → the repository root.
const ROOT = path.resolve(__dirname, '../../../../..');
const FILES = ['rules/attributes.yaml', 'rules/metrics.yaml'];
const INSTANCES = ['default/requestcount', 'default/requestduration', 'default/requestsize', 'default/responsesize'];
const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'request_protocol',
  'response_code',
  'response_flags',
  'connection_security_policy',
  'source_canonical_service',
  'source_canonical_revision',
  'destination_canonical_service',
  'destination_canonical_revision',
  'grpc_response_status',
];

function loadPlan(): ConfigPlan {
  const inventory = new Map<string, AdapterFactory>();
  for (const f of BUILTIN_ADAPTERS) if (f.name !== prometheusAdapter.name) inventory.set(f.name, f);
  inventory.set(prometheusAdapter.name, prometheusAdapter);
  const objects = FILES.flatMap((f) => {
    const r = parseConfigText(readFileSync(path.join(ROOT, f), 'utf8'), f, {});
    assert.deepEqual(r.errors, [], `${f} parses`);
    return r.objects;
  });
  const { plan, errors } = compileConfig(objects, inventory);
  assert.deepEqual(errors, []);
  return plan!;
}

const INBOUND: Record<string, AttributeValue> = {
  'context.reporter.kind': 'inbound',
  'context.protocol': 'http',
  'connection.mtls': true,
  'source.workload.name': 'productpage-v1',
  'source.workload.namespace': 'bookinfo',
  'source.principal': 'cluster.local/ns/bookinfo/sa/productpage',
  'source.labels': { app: 'productpage', version: 'v1' },
  'destination.workload.name': 'reviews-v2',
  'destination.workload.namespace': 'bookinfo',
  'destination.principal': 'cluster.local/ns/bookinfo/sa/reviews',
  'destination.labels': { app: 'reviews', version: 'v2' },
  'destination.service.host': 'reviews.bookinfo.svc.cluster.local',
  'destination.service.name': 'reviews',
  'destination.service.namespace': 'bookinfo',
  'request.host': 'reviews:9080',
  'response.code': 503,
  'response.grpc_status': '14',
  'context.proxy_error_code': 'UH',
  'response.duration': 12.5,
  'request.size': 100,
  'response.size': 2000,
};

const INBOUND_LABELS: Record<string, string> = {
  reporter: 'destination',
  source_workload: 'productpage-v1',
  source_workload_namespace: 'bookinfo',
  source_principal: 'cluster.local/ns/bookinfo/sa/productpage',
  source_app: 'productpage',
  source_version: 'v1',
  destination_workload: 'reviews-v2',
  destination_workload_namespace: 'bookinfo',
  destination_principal: 'cluster.local/ns/bookinfo/sa/reviews',
  destination_app: 'reviews',
  destination_version: 'v2',
  destination_service: 'reviews.bookinfo.svc.cluster.local',
  destination_service_name: 'reviews',
  destination_service_namespace: 'bookinfo',
  request_protocol: 'http',
  response_code: '503',
  response_flags: 'UH',
  connection_security_policy: 'mutual_tls',
  source_canonical_service: 'productpage',
  source_canonical_revision: 'v1',
  destination_canonical_service: 'reviews',
  destination_canonical_revision: 'v2',
  grpc_response_status: '14',
};

/** An outbound report that carries almost nothing: every fallback shows. */
const OUTBOUND: Record<string, AttributeValue> = {
  'context.reporter.kind': 'outbound',
  'connection.mtls': true,
  'source.workload.name': 'productpage-v1',
  'destination.workload.name': 'reviews-v2',
  'request.host': 'reviews:9080',
};

const OUTBOUND_LABELS: Record<string, string> = {
  ...Object.fromEntries(LABELS.map((l) => [l, 'unknown'])),
  reporter: 'source',
  source_workload: 'productpage-v1',
  destination_workload: 'reviews-v2',
  destination_service: 'reviews:9080',
  response_code: '200',
  response_flags: '-',
  connection_security_policy: 'unknown',
  source_canonical_service: 'productpage-v1',
  source_canonical_revision: 'latest',
  destination_canonical_service: 'reviews-v2',
  destination_canonical_revision: 'latest',
};

describe('default config rules/metrics.yaml: Istio standard metrics', () => {
  let plan: ConfigPlan;
  before(() => {
    plan = loadPlan();
  });

  /** The instances the prometheus handler receives for one bag, by instance name. */
  function instancesFor(values: Record<string, AttributeValue>): Map<string, InstanceValue> {
    const bag = Bag.trusted(values);
    const out = new Map<string, InstanceValue>();
    for (const rule of plan.rules) {
      if (!rule.predicate(bag)) continue;
      for (const a of rule.actions) if (a.handler === 'default/prometheus') for (const i of a.instances) out.set(i.ref, i.build(bag));
    }
    return out;
  }

  /** The label values the handler would render for the instance (its dimensions, in the metric's label order). */
  function labelsOf(inst: InstanceValue | undefined): Record<string, string> {
    assert.ok(inst, 'instance built');
    const dims = inst.fields.dimensions as Record<string, unknown>;
    return Object.fromEntries(LABELS.map((l) => [l, dims[l] === undefined ? 'unknown' : String(dims[l])]));
  }

  it('declares the four metrics, kinds, every label and the DESIGN buckets', () => {
    const h = plan.handlers.get('default/prometheus');
    assert.ok(h);
    const cfg = h.config as PrometheusConfig;
    const metrics = cfg.metrics ?? [];
    assert.deepEqual(
      metrics.map((m) => [m.name, m.kind, m.instanceName]),
      [
        ['istio_requests_total', 'COUNTER', 'requestcount'],
        ['istio_request_duration_milliseconds', 'DISTRIBUTION', 'requestduration'],
        ['istio_request_bytes', 'DISTRIBUTION', 'requestsize'],
        ['istio_response_bytes', 'DISTRIBUTION', 'responsesize'],
      ],
    );
    for (const m of metrics) assert.deepEqual([...(m.labelNames ?? [])].sort(), [...LABELS].sort(), m.name);
    const bounds = (i: number) => (metrics[i].buckets as { explicitBuckets: { bounds: number[] } }).explicitBuckets.bounds;
    assert.deepEqual(bounds(1), [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);
    for (const i of [2, 3]) assert.deepEqual(bounds(i), [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000]);
  });

  it('the four instances share identical dimensions', () => {
    const docs = plan.objects.filter((o) => o.kind === 'Instance').map((o) => o.doc as InstanceDoc);
    assert.deepEqual(docs.map((d) => `default/${d.metadata.name}`).sort(), [...INSTANCES].sort());
    for (const d of docs) assert.deepEqual(d.spec.params?.dimensions, docs[0].spec.params?.dimensions, d.metadata.name);
  });

  it('an inbound report: every label copied or derived per the DESIGN table', () => {
    const insts = instancesFor(INBOUND);
    assert.deepEqual([...insts.keys()].sort(), [...INSTANCES].sort());
    for (const name of INSTANCES) assert.deepEqual(labelsOf(insts.get(name)), INBOUND_LABELS, name);
    assert.deepEqual(
      INSTANCES.map((n) => insts.get(n)!.fields.value),
      [1, 12.5, 100, 2000],
    );
  });

  it('an outbound report with little in it: source reporter, unknown policy, fallbacks and defaults', () => {
    const insts = instancesFor(OUTBOUND);
    for (const name of INSTANCES) assert.deepEqual(labelsOf(insts.get(name)), OUTBOUND_LABELS, name);
    assert.deepEqual(
      INSTANCES.map((n) => insts.get(n)!.fields.value),
      [1, 0, 0, 0],
    );
  });

  it('connection_security_policy: mutual_tls, none without mTLS, none when mtls is absent; reporter defaults to destination', () => {
    const csp = (values: Record<string, AttributeValue>) => labelsOf(instancesFor(values).get('default/requestcount'));
    assert.equal(csp({ 'context.reporter.kind': 'inbound', 'connection.mtls': true }).connection_security_policy, 'mutual_tls');
    assert.equal(csp({ 'context.reporter.kind': 'inbound', 'connection.mtls': false }).connection_security_policy, 'none');
    assert.equal(csp({ 'context.reporter.kind': 'inbound' }).connection_security_policy, 'none');
    assert.equal(csp({ 'context.reporter.kind': 'outbound', 'connection.mtls': false }).connection_security_policy, 'unknown');
    const bare = csp({ 'connection.mtls': true });
    assert.equal(bare.reporter, 'destination');
    assert.equal(bare.connection_security_policy, 'mutual_tls');
  });

  it('destination_service, request_protocol and canonical names fall back in order', () => {
    const labels = (values: Record<string, AttributeValue>) => labelsOf(instancesFor(values).get('default/requestcount'));
    assert.equal(labels({ 'destination.service.host': 'a.svc', 'request.host': 'b:80' }).destination_service, 'a.svc');
    assert.equal(labels({ 'request.host': 'b:80' }).destination_service, 'b:80');
    assert.equal(labels({}).destination_service, 'unknown');
    assert.equal(labels({ 'api.protocol': 'grpc', 'context.protocol': 'http2' }).request_protocol, 'grpc');
    assert.equal(labels({ 'context.protocol': 'http2' }).request_protocol, 'http2');
    const only = labels({
      'destination.labels': { app: 'reviews' },
      'destination.workload.name': 'reviews-v2',
      'source.labels': { version: 'v3' },
      'source.workload.name': 'pp-v1',
    });
    assert.deepEqual(
      [only.destination_canonical_service, only.destination_canonical_revision, only.source_canonical_service, only.source_canonical_revision],
      ['reviews', 'latest', 'pp-v1', 'v3'],
    );
    assert.deepEqual([only.destination_app, only.destination_version, only.source_app, only.source_version], ['reviews', 'unknown', 'unknown', 'v3']);
  });

  it('selects HTTP traffic only: tcp reports are skipped, a report without context.protocol counts', () => {
    assert.equal(instancesFor({ 'context.protocol': 'tcp' }).size, 0);
    assert.equal(instancesFor({ 'context.protocol': 'grpc' }).size, 4);
    assert.equal(instancesFor({}).size, 4);
  });

  it('end to end: the configured handler renders istio_* with the derived labels', async () => {
    const h = plan.handlers.get('default/prometheus')!;
    const owned = createAdapterEnv({ handlerName: h.ref });
    const handler = (await h.adapter.create(h.config, owned.env)) as PrometheusHandler;
    try {
      const batch = [...instancesFor(INBOUND).values(), ...instancesFor(INBOUND).values(), ...instancesFor(OUTBOUND).values()];
      await handler.report(batch, { jobId: 'e2e', attempt: 1 });
      const text = await owned.env.registry.metrics();
      const inboundLabels = (h.config as PrometheusConfig).metrics![0].labelNames!.map((l) => `${l}="${INBOUND_LABELS[l]}"`).join(',');
      assert.ok(linesOf(text, 'istio_requests_total').includes(`istio_requests_total{${inboundLabels}} 2`), text);
      const duration = linesOf(text, 'istio_request_duration_milliseconds_bucket').filter((l) => l.includes('reporter="destination"'));
      assert.deepEqual(
        duration.slice(3, 6).map((l) => l.replace(/.*le="([^"]+)"\} /, '$1 ')),
        ['10 0', '25 2', '50 2'],
      );
      assert.ok(linesOf(text, 'istio_response_bytes_sum').includes(`istio_response_bytes_sum{${inboundLabels}} 4000`));
      assert.equal(linesOf(text, 'istio_request_bytes_count').length, 2, 'one series per reporter');
    } finally {
      handler.close();
      owned.dispose();
    }
  });
});
