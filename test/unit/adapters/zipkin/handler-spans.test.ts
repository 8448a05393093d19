import assert from 'node:assert/strict';
import { SpanSink } from './span-sink';
import { CTX, PARENT, SPAN, START_MS, START_US, TRACE, assertAllValid, closeAll, createZipkin, metric, tracespan } from './harness';

describe('zipkin adapter: spans', () => {
  let sink: SpanSink;
  before(async () => {
    sink = await SpanSink.start();
  });
  after(async () => {
    await sink.close();
  });
  afterEach(async () => {
    assertAllValid(sink);
    sink.reset();
    await closeAll();
  });

  it('sends a SERVER span: ids intact, µs times, destination local, source remote, tags', async () => {
    const { handler, env } = await createZipkin({ url: sink.url });
    const inst = tracespan({
      parentSpanId: PARENT,
      spanName: 'GET /api/Reviews',
      clientSpan: false,
      httpStatusCode: 503,
      sourceName: 'productpage-v1',
      sourceIp: '10.0.0.1',
      destinationName: 'Reviews-V1',
      destinationIp: '10.0.0.2',
      requestSize: 120,
      spanTags: { 'http.method': 'GET', 'http.path': '/api/Reviews' },
    });
    await handler.report!([inst], CTX);
    assert.equal(sink.requests.length, 1);
    assert.deepEqual(sink.accepted(), [
      {
        traceId: TRACE,
        parentId: PARENT,
        id: SPAN,
        name: 'get /api/reviews',
        kind: 'SERVER',
        timestamp: START_US,
        duration: 12_500,
        localEndpoint: { serviceName: 'reviews-v1', ipv4: '10.0.0.2' },
        remoteEndpoint: { serviceName: 'productpage-v1', ipv4: '10.0.0.1' },
        tags: { 'http.status_code': '503', error: '503', request_size: '120', 'http.method': 'GET', 'http.path': '/api/Reviews' },
        shared: true,
      },
    ]);
    assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 1);
  });

  it('names spans without the query string or fragment (it may hold tokens)', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    await handler.report!([tracespan({ spanName: '/search?access_token=s3cret&q=x' }), tracespan({ spanName: '/page#frag', spanId: 'a'.repeat(16) })], CTX);
    assert.deepEqual(
      sink.accepted().map((s) => s.name),
      ['/search', '/page'],
    );
  });

  it('sends a CLIENT span with source local and destination remote (IPv6 too), not shared', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    await handler.report!(
      [tracespan({ clientSpan: true, sourceName: 'frontend', sourceIp: '2001:db8::1', destinationIp: '10.1.2.3', httpStatusCode: 200 })],
      CTX,
    );
    const [s] = sink.accepted();
    assert.equal(s.kind, 'CLIENT');
    assert.equal(s.shared, undefined);
    assert.equal(s.parentId, undefined, 'no parent: a root span');
    assert.deepEqual(s.localEndpoint, { serviceName: 'frontend', ipv6: '2001:db8::1' });
    assert.deepEqual(s.remoteEndpoint, { ipv4: '10.1.2.3' });
    assert.deepEqual(s.tags, { 'http.status_code': '200' }, 'no error tag below 500');
  });

  it('gives a span of no or negative length a duration of 1 µs, and rounds sub-µs times', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    await handler.report!(
      [
        tracespan({ spanId: '1000000000000001', endTime: START_MS }),
        tracespan({ spanId: '1000000000000002', endTime: START_MS - 5 }),
        tracespan({ spanId: '1000000000000003', startTime: START_MS + 0.0001, endTime: START_MS + 1.0009 }),
      ],
      CTX,
    );
    const spans = sink.accepted();
    assert.deepEqual(
      spans.map((s) => [s.timestamp, s.duration]),
      [
        [START_US, 1],
        [START_US, 1],
        [START_US, 1001],
      ],
    );
    assert.ok(spans.every((s) => Number.isInteger(s.timestamp) && Number.isInteger(s.duration)));
  });

  it('writes every spanTags value as text; spanTags win over computed tags; code 0 means no status tag', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    await handler.report!([tracespan({ httpStatusCode: 0, spanTags: { retries: 3, cached: false, error: 'timeout' } })], CTX);
    assert.deepEqual(sink.accepted()[0].tags, { retries: '3', cached: 'false', error: 'timeout' });
  });

  it('takes ids, parent and debug from the single b3 header when the multi headers are absent', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    const b3 = `${TRACE}-${SPAN}-d-${PARENT}`;
    await handler.report!([tracespan({ traceId: undefined, spanId: undefined, b3 })], CTX);
    const [s] = sink.accepted();
    assert.deepEqual([s.traceId, s.id, s.parentId, s.debug], [TRACE, SPAN, PARENT, true]);
  });

  it('obeys the trace decision: 0/false not sent (counted unsampled), 1/true sent, d sent as debug', async () => {
    const { handler, env } = await createZipkin({ url: sink.url, sampleProbability: 0 });
    const ids = ['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004', '0000000000000005', '0000000000000006'];
    const flags = ['0', 'false', '1', 'true', 'd', undefined];
    await handler.report!(
      ids.map((spanId, i) => tracespan({ spanId, sampled: flags[i] })),
      CTX,
    );
    const sent = sink.accepted();
    assert.deepEqual(
      sent.map((s) => [s.id, s.debug ?? false]),
      [
        [ids[2], false],
        [ids[3], false],
        [ids[4], true],
      ],
      'probability 0 applies only to the span without a decision',
    );
    assert.equal(await metric(env, 'mixer_zipkin_spans_unsampled_total'), 3);
    assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 3);
  });

  it('samples by probability per trace: all spans of a trace or none, the same on every handler', async () => {
    const traceIds = Array.from({ length: 120 }, (_, i) => ((0x9e3779b97f4a7c15n * BigInt(i + 1)) & 0xffffffffffffffffn).toString(16).padStart(16, '0'));
    const batch = traceIds.flatMap((traceId, i) => [1, 2, 3].map((k) => tracespan({ traceId, spanId: `${(i + 1).toString(16).padStart(12, '0')}000${k}` })));
    const first = await createZipkin({ url: sink.url, sampleProbability: 0.5 });
    await first.handler.report!(batch, CTX);
    const firstSent = sink.accepted();
    const perTrace = new Map<string, number>();
    for (const s of firstSent) perTrace.set(s.traceId, (perTrace.get(s.traceId) ?? 0) + 1);
    assert.ok(
      [...perTrace.values()].every((n) => n === 3),
      'every trace sent whole',
    );
    assert.ok(perTrace.size > 30 && perTrace.size < 90, `about half the traces kept: ${perTrace.size} of 120`);
    assert.equal(await metric(first.env, 'mixer_zipkin_spans_unsampled_total'), batch.length - firstSent.length);

    sink.reset();
    const second = await createZipkin({ url: sink.url, sampleProbability: 0.5 });
    await second.handler.report!([...batch].reverse(), CTX);
    assert.deepEqual(new Set(sink.accepted().map((s) => s.traceId)), new Set(perTrace.keys()), 'another handler decides the same');
  });

  it('drops spans with unusable ids or times, counts them by reason, sends the rest, warns once per interval', async () => {
    const { handler, env, logs } = await createZipkin({ url: sink.url });
    const bad = [
      tracespan({ traceId: TRACE.toUpperCase() }),
      tracespan({ traceId: TRACE.slice(0, 20) }),
      tracespan({ spanId: 'a2fb4a1d' }),
      tracespan({ parentSpanId: 'not-a-span-id' }),
      tracespan({ traceId: undefined, spanId: undefined }),
      tracespan({ traceId: undefined, spanId: undefined, b3: `${TRACE}-${SPAN}-yes` }),
      tracespan({ startTime: undefined }),
      tracespan({ endTime: 'soon' }),
    ];
    await handler.report!([tracespan({ spanId: '00000000000000aa' }), ...bad, tracespan({ spanId: '00000000000000bb' })], CTX);
    assert.deepEqual(
      sink.accepted().map((s) => s.id),
      ['00000000000000aa', '00000000000000bb'],
    );
    const reasons: Record<string, number> = {
      invalid_trace_id: 2,
      invalid_span_id: 1,
      invalid_parent_id: 1,
      missing_ids: 1,
      invalid_b3: 1,
      invalid_timestamp: 2,
    };
    for (const [reason, n] of Object.entries(reasons)) assert.equal(await metric(env, 'mixer_zipkin_spans_dropped_total', { reason }), n, reason);
    await handler.report!(bad, CTX);
    assert.equal(await metric(env, 'mixer_zipkin_spans_dropped_total'), 16);
    assert.equal(logs.filter((l) => l.level === 40).length, 1, 'one warning for two batches with drops');
  });

  it('sends nothing at all for a batch whose spans are all unsampled or dropped', async () => {
    const { handler } = await createZipkin({ url: sink.url });
    await handler.report!([tracespan({ sampled: '0' }), tracespan({ spanId: 'x' })], CTX);
    assert.equal(sink.requests.length, 0);
  });
});
