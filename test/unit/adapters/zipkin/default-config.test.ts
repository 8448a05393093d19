import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { zipkinAdapter } from '../../../../adapters/zipkin';
import { BUILTIN_ADAPTERS } from '../../../../adapters/index';
import { compileConfig } from '../../../../src/config/compile';
import type { ConfigPlan } from '../../../../src/config/compile';
import { parseConfigText } from '../../../../src/config/load';
import { DEFAULT_LIMITS, decodeBag } from '../../../../src/attributes/decode';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { AdapterFactory, Handler } from '../../../../src/sdk/adapter';
import { SpanSink } from './span-sink';
import { REPO_ROOT } from './zipkin-schema';
import { assertAllValid } from './harness';

const TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const CLIENT_SPAN = 'e457b5a2e4d86bd1';
const PARENT = '05e3ac9a4f6e3b90';

function inventory(): Map<string, AdapterFactory> {
  const m = new Map<string, AdapterFactory>(BUILTIN_ADAPTERS.map((f) => [f.name, f]));
  m.set(zipkinAdapter.name, zipkinAdapter);
  return m;
}

/** The real default manifest and tracing config, compiled with `env`. */
function compileDefaults(env: NodeJS.ProcessEnv): ConfigPlan {
  const objects = ['attributes.yaml', 'tracing.yaml'].flatMap((name) => {
    const file = path.join(REPO_ROOT, 'rules', name);
    const r = parseConfigText(readFileSync(file, 'utf8'), file, env);
    assert.deepEqual(r.errors, [], `${name} parses`);
    return r.objects;
  });
  const { plan, errors } = compileConfig(objects, inventory());
  assert.deepEqual(errors, []);
  return plan!;
}

/** An HTTP report bag as a sidecar sends it (wire form: RFC 3339 times). */
function bag(extra: Record<string, unknown>) {
  return {
    'request.path': '/api/Reviews/1?x=1',
    'request.url_path': '/api/Reviews/1',
    'request.method': 'GET',
    'request.host': 'reviews:9080',
    'request.id': 'b1f3a0e2-7f7e-4c43-9a3f-0d6b2b1c9e11',
    'request.time': '2024-05-01T12:00:00.000250Z',
    'response.time': '2024-05-01T12:00:00.012750Z',
    'response.code': 503,
    'request.size': 120,
    'response.size': 2048,
    'source.workload.name': 'productpage-v1',
    'source.ip': '10.0.0.1',
    'destination.workload.name': 'reviews-v1',
    'destination.labels': { app: 'reviews', version: 'v1' },
    'destination.ip': '10.0.0.2',
    'destination.service.host': 'reviews.default.svc.cluster.local',
    ...extra,
  };
}

describe('zipkin adapter: the default rules/tracing.yaml', () => {
  let sink: SpanSink;
  const handlers: Array<{ handler: Handler; dispose: () => void }> = [];
  before(async () => {
    sink = await SpanSink.start();
  });
  after(async () => {
    await sink.close();
  });
  afterEach(async () => {
    for (const h of handlers.splice(0)) {
      await h.handler.close?.();
      h.dispose();
    }
    assertAllValid(sink);
    sink.reset();
  });

  /** Runs bags through the plan as the worker would: rule match, instance build, handler report. */
  async function dispatch(plan: ConfigPlan, raws: Array<Record<string, unknown>>): Promise<number> {
    const rule = plan.rules.find((r) => r.ref === 'default/tracing-http');
    assert.ok(rule, 'rule default/tracing-http');
    const [action] = rule.actions;
    const hp = plan.handlers.get(action.handler)!;
    const owned = createAdapterEnv({ handlerName: hp.ref });
    const handler = await hp.adapter.create(hp.config, owned.env);
    handlers.push({ handler, dispose: () => owned.dispose() });
    const bags = raws.map((raw, i) => decodeBag(raw, plan.vocabulary, DEFAULT_LIMITS, `attributes[${i}]`)).filter((b) => rule.predicate(b));
    const instances = bags.flatMap((b) => action.instances.map((i) => i.build(b)));
    await handler.report!(instances, { jobId: 'job-defaults', attempt: 1 });
    return bags.length;
  }

  it('turns an inbound report with B3 multi headers into a SERVER span', async () => {
    const plan = compileDefaults({ ZIPKIN_URL: sink.url });
    const headers = { 'x-b3-traceid': TRACE, 'x-b3-spanid': CLIENT_SPAN, 'x-b3-parentspanid': PARENT, 'x-b3-sampled': '1' };
    await dispatch(plan, [bag({ 'request.headers': headers, 'context.reporter.kind': 'inbound', 'context.protocol': 'http' })]);
    assert.deepEqual(sink.accepted(), [
      {
        traceId: TRACE,
        parentId: PARENT,
        id: CLIENT_SPAN,
        name: '/api/reviews/1', // the query string stays out of span names
        kind: 'SERVER',
        timestamp: Date.UTC(2024, 4, 1, 12) * 1000 + 250,
        duration: 12_500,
        localEndpoint: { serviceName: 'reviews-v1', ipv4: '10.0.0.2' },
        remoteEndpoint: { serviceName: 'productpage-v1', ipv4: '10.0.0.1' },
        tags: {
          'http.status_code': '503',
          error: '503',
          request_size: '120',
          response_size: '2048',
          'http.method': 'GET',
          'http.path': '/api/Reviews/1',
          'http.host': 'reviews:9080',
          'http.protocol': 'http',
          'guid:x-request-id': 'b1f3a0e2-7f7e-4c43-9a3f-0d6b2b1c9e11',
          'destination.version': 'v1',
          'destination.service': 'reviews.default.svc.cluster.local',
          reporter: 'inbound',
        },
        shared: true,
      },
    ]);
  });

  it('turns an outbound report with the single b3 header into a CLIENT span (endpoints swapped)', async () => {
    const plan = compileDefaults({ ZIPKIN_URL: sink.url });
    const raw = bag({ 'request.headers': { b3: `${TRACE}-${CLIENT_SPAN}-1-${PARENT}` }, 'context.reporter.kind': 'outbound' });
    delete (raw as Record<string, unknown>)['source.workload.name'];
    (raw as Record<string, unknown>)['source.labels'] = { app: 'productpage' };
    await dispatch(plan, [raw]);
    const [s] = sink.accepted();
    assert.deepEqual([s.traceId, s.id, s.parentId, s.kind, s.shared], [TRACE, CLIENT_SPAN, PARENT, 'CLIENT', undefined]);
    assert.deepEqual(s.localEndpoint, { serviceName: 'productpage', ipv4: '10.0.0.1' }, 'source name falls back to the app label');
    assert.deepEqual(s.remoteEndpoint, { serviceName: 'reviews-v1', ipv4: '10.0.0.2' });
    assert.equal(s.tags?.reporter, 'outbound');
    assert.equal(s.tags?.['http.protocol'], undefined, 'no protocol attribute, no tag');
  });

  it('matches HTTP bags (with or without context.protocol) and not TCP; obeys x-b3-sampled: 0', async () => {
    const plan = compileDefaults({ ZIPKIN_URL: sink.url });
    const headers = (spanId: string, sampled = '1') => ({ 'x-b3-traceid': TRACE, 'x-b3-spanid': spanId, 'x-b3-sampled': sampled });
    const matched = await dispatch(plan, [
      bag({ 'request.headers': headers('0000000000000001'), 'context.protocol': 'http' }),
      bag({ 'request.headers': headers('0000000000000002'), 'context.protocol': 'grpc' }),
      bag({ 'request.headers': headers('0000000000000003') }),
      bag({ 'request.headers': headers('0000000000000004'), 'context.protocol': 'tcp' }),
      bag({ 'request.headers': headers('0000000000000005', '0') }),
    ]);
    assert.equal(matched, 4);
    assert.deepEqual(
      sink.accepted().map((s) => s.id),
      ['0000000000000001', '0000000000000002', '0000000000000003'],
    );
    const unknownNames = await dispatch(plan, [
      { 'request.headers': headers('0000000000000006'), 'request.time': '2024-05-01T12:00:00Z', 'response.time': '2024-05-01T12:00:01Z' },
    ]);
    assert.equal(unknownNames, 1);
    const last = sink.accepted().at(-1)!;
    assert.deepEqual(
      [last.id, last.name, last.localEndpoint, last.remoteEndpoint],
      ['0000000000000006', '/', { serviceName: 'unknown' }, { serviceName: 'unknown' }],
    );
  });

  it('with ZIPKIN_URL unset the handler is disabled and sends nothing', async () => {
    const plan = compileDefaults({});
    assert.equal((plan.handlers.get('default/zipkin')!.config as { url: string }).url, '');
    const headers = { 'x-b3-traceid': TRACE, 'x-b3-spanid': CLIENT_SPAN, 'x-b3-sampled': '1' };
    assert.equal(await dispatch(plan, [bag({ 'request.headers': headers })]), 1);
    assert.equal(sink.requests.length, 0);
  });
});
