import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { graphAdapter } from '../../../../adapters/graph';
import { GraphHandler } from '../../../../adapters/graph/handler';
import { resolveGraphConfig } from '../../../../adapters/graph/config';
import type { GraphConfig } from '../../../../adapters/graph/config';
import { BUILTIN_ADAPTERS } from '../../../../adapters/index';
import { decodeBag, DEFAULT_LIMITS } from '../../../../src/attributes/decode';
import { compileConfig } from '../../../../src/config/compile';
import type { ConfigPlan } from '../../../../src/config/compile';
import { parseConfigText } from '../../../../src/config/load';
import type { AdapterFactory, InstanceValue } from '../../../../src/sdk/adapter';
import { createAdapterEnv } from '../../../../src/sdk/env';
import { Clock, edgeOf, graphJson, T0 } from './fixtures';

/** The repository's `rules/` (tests run from `dist/test/...`, sources stay at the root). */
const RULES = path.resolve(__dirname, '../../../../../rules');

function realPlan(): ConfigPlan {
  const objects = [];
  for (const file of ['attributes.yaml', 'graph.yaml']) {
    const loaded = parseConfigText(readFileSync(path.join(RULES, file), 'utf8'), `rules/${file}`, {});
    assert.deepEqual(loaded.errors, [], file);
    objects.push(...loaded.objects);
  }
  const inventory = new Map<string, AdapterFactory>();
  for (const f of BUILTIN_ADAPTERS) inventory.set(f.name, f);
  inventory.set(graphAdapter.name, graphAdapter);
  const { plan, errors } = compileConfig(objects, inventory);
  assert.deepEqual(errors, []);
  assert.ok(plan);
  return plan;
}

/** What the rules send to the handler `default/graph` for one bag (wire form, as in a report). */
function instancesFor(plan: ConfigPlan, raw: Record<string, unknown>): InstanceValue[] {
  const bag = decodeBag(raw, plan.vocabulary, DEFAULT_LIMITS, 'attributes[0]');
  const out: InstanceValue[] = [];
  for (const rule of plan.rules) {
    if (!rule.predicate(bag)) continue;
    for (const a of rule.actions) if (a.handler === 'default/graph') for (const i of a.instances) out.push(i.build(bag));
  }
  return out;
}

const call = (more: Record<string, unknown> = {}): Record<string, unknown> => ({
  'source.workload.name': 'frontend-v1',
  'source.workload.namespace': 'shop',
  'source.labels': { app: 'frontend', version: 'v1' },
  'destination.workload.name': 'backend-v2',
  'destination.workload.namespace': 'shop',
  'destination.labels': { app: 'backend', version: 'v2' },
  'destination.service.name': 'backend',
  'destination.service.namespace': 'shop',
  'destination.service.host': 'backend.shop.svc.cluster.local',
  'request.size': 120,
  'response.size': 880,
  'response.code': 200,
  'response.duration': '25ms',
  'connection.mtls': true,
  ...more,
});

describe('rules/graph.yaml with the real attribute vocabulary', () => {
  const plan = realPlan();

  it('maps a bag to an edge instance: labels to app/version, sizes, duration in ms, mTLS', () => {
    const [inst, ...rest] = instancesFor(plan, call({ 'context.protocol': 'http', 'request.time': '2024-05-01T12:00:00Z' }));
    assert.equal(rest.length, 0, 'one instance per bag');
    assert.equal(inst.template, 'edge');
    assert.deepEqual(
      { ...inst.fields },
      {
        timestamp: Date.parse('2024-05-01T12:00:00Z'),
        sourceWorkloadNamespace: 'shop',
        sourceWorkloadName: 'frontend-v1',
        sourceApp: 'frontend',
        sourceVersion: 'v1',
        destinationWorkloadNamespace: 'shop',
        destinationWorkloadName: 'backend-v2',
        destinationApp: 'backend',
        destinationVersion: 'v2',
        destinationServiceNamespace: 'shop',
        destinationServiceName: 'backend',
        contextProtocol: 'http',
        responseCode: 200,
        duration: 25,
        requestBytes: 120,
        responseBytes: 880,
        mtls: true,
        reporterKind: 'inbound',
      },
    );
  });

  it("takes both sides' reports of HTTP traffic (absent protocol = HTTP), not TCP; the adapter dedups by request id", () => {
    assert.equal(instancesFor(plan, call()).length, 1, 'no reporter kind, no protocol');
    assert.equal(instancesFor(plan, call({ 'context.reporter.kind': 'inbound', 'context.protocol': 'grpc' })).length, 1);
    const [outbound] = instancesFor(plan, call({ 'context.reporter.kind': 'outbound', 'request.id': 'r-1' }));
    assert.equal(outbound.fields.reporterKind, 'outbound');
    assert.equal(outbound.fields.requestId, 'r-1');
    assert.equal(instancesFor(plan, call()).at(0)?.fields.reporterKind, 'inbound', 'absent kind is inbound');
    assert.equal(instancesFor(plan, call({ 'context.protocol': 'tcp' })).length, 0, 'tcp is not in the graph');
  });

  it('counts a request reported by both sidecars once, and draws it between the right nodes', async () => {
    const env = createAdapterEnv({ handlerName: 'default/graph' });
    const handler = new GraphHandler(resolveGraphConfig(plan.handlers.get('default/graph')!.config as GraphConfig), env.env, { now: new Clock().now });
    const bags = [
      call({ 'context.reporter.kind': 'outbound' }),
      call({ 'context.reporter.kind': 'inbound', 'response.code': 503, 'request.time': new Date(T0 - 5000).toISOString() }),
      call({ 'context.reporter.kind': 'outbound', 'response.code': 503 }),
      call(),
      {
        'destination.service.host': 'api.partner.example',
        'destination.workload.name': 'egress',
        'destination.workload.namespace': 'istio-system',
        'response.duration': '1.5s',
      },
    ];
    await handler.report(
      bags.flatMap((b) => instancesFor(plan, b)),
      { jobId: 'rules', attempt: 1 },
    );
    const g = await graphJson(handler, { window: '1m' });
    const e = edgeOf(g, 'app:shop/frontend/v1', 'app:shop/backend/v2');
    assert.ok(e);
    assert.equal(e.requests, 2);
    assert.equal(e.errors, 1);
    assert.equal(e.mtlsShare, 1);
    assert.equal(e.p50, 25);
    const external = edgeOf(g, 'unknown', 'workload:istio-system/egress');
    assert.equal(external?.requests, 1, 'a caller without a workload is the unknown node');
    assert.equal(external?.p99, 1500);
    const egress = g.elements.nodes.find((n) => n.data.id === 'workload:istio-system/egress');
    assert.equal(egress?.data.service, 'api.partner.example', 'destination.service.host stands in for the name');
    handler.close();
    env.dispose();
  });
});
