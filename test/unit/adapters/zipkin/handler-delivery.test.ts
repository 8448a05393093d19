import assert from 'node:assert/strict';
import { zipkinAdapter } from '../../../../adapters/zipkin';
import { isPermanent, PermanentError } from '../../../../src/sdk/adapter';
import { runAdapterConformance, waitFor } from '../../../../src/sdk/conformance';
import { validateParams } from '../../../../src/sdk/params';
import { SpanSink, refusedUrl } from './span-sink';
import { CTX, assertAllValid, closeAll, createZipkin, metric, rejectionOf, tracespan } from './harness';

/** `n` valid spans of one trace with distinct span ids. */
function spans(n: number) {
  return Array.from({ length: n }, (_, i) => tracespan({ spanId: (i + 1).toString(16).padStart(16, '0') }));
}

describe('zipkin adapter: delivery', () => {
  let sink: SpanSink;
  let refused: string;
  before(async () => {
    sink = await SpanSink.start();
    refused = await refusedUrl();
  });
  after(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await closeAll();
    assertAllValid(sink);
    sink.reset();
  });

  runAdapterConformance(zipkinAdapter, {
    validParams: { url: 'http://127.0.0.1:9/', sampleProbability: 0.5, timeout: '2s', maxSpansPerRequest: 10 },
    invalidParams: [
      {},
      { url: 'zipkin:9411' },
      { url: 'http://z', sampleProbability: 1.5 },
      { url: 'http://z', timeout: '0s' },
      { url: 'http://z', timeout: 'soon' },
      { url: 'http://z', maxSpansPerRequest: 0 },
      { url: 'http://z', colour: 'red' },
    ],
    badReport: {
      get params() {
        sink.answer = () => ({ status: 400, body: 'Malformed reading List<Span> from json' });
        return { url: sink.url };
      },
      instances: [tracespan()],
    },
    retryableReport: {
      get params() {
        return { url: refused };
      },
      instances: [tracespan()],
    },
  });

  it('applies defaults: probability 1, 5s, 1000 spans per POST', () => {
    const r = validateParams(zipkinAdapter, { url: '' }, 'params');
    assert.deepEqual(r.config, { url: '', sampleProbability: 1, timeout: '5s', maxSpansPerRequest: 1000 });
  });

  it('POSTs to {url}/api/v2/spans, with or without a trailing slash or the full path', async () => {
    for (const url of [sink.url, `${sink.url}/`, `${sink.url}/api/v2/spans`]) {
      const { handler } = await createZipkin({ url });
      await handler.report!([tracespan()], CTX);
    }
    assert.deepEqual(
      sink.requests.map((r) => r.path),
      ['/api/v2/spans', '/api/v2/spans', '/api/v2/spans'],
    );
  });

  for (const status of [503, 500, 429, 408]) {
    it(`a ${status} answer rejects the report with a retryable error`, async () => {
      sink.answer = () => ({ status, body: 'busy' });
      const { handler, env } = await createZipkin({ url: sink.url });
      const err = await rejectionOf(handler.report!([tracespan()], CTX));
      assert.equal(isPermanent(err), false);
      assert.match(String(err), new RegExp(`answered ${status}: busy`));
      assert.equal(sink.requests.length, 1, 'the POST did reach the sink');
      assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 0);
    });
  }

  for (const status of [400, 404, 413]) {
    it(`a ${status} answer rejects the report with a PermanentError`, async () => {
      sink.answer = () => ({ status });
      const { handler } = await createZipkin({ url: sink.url });
      const err = await rejectionOf(handler.report!([tracespan()], CTX));
      assert.ok(err instanceof PermanentError, String(err));
    });
  }

  it('a refused connection rejects with a retryable error naming the cause', async () => {
    const { handler } = await createZipkin({ url: refused });
    const err = await rejectionOf(handler.report!([tracespan()], CTX));
    assert.equal(isPermanent(err), false);
    assert.match(String(err), /ECONNREFUSED/);
  });

  it('a sink that never answers fails the report after `timeout`, retryable', async () => {
    sink.answer = () => 'hang';
    const { handler } = await createZipkin({ url: sink.url, timeout: '200ms' });
    const started = Date.now();
    const err = await rejectionOf(handler.report!([tracespan()], CTX));
    assert.equal(isPermanent(err), false);
    assert.match(String(err), /no answer within 200 ms/);
    assert.ok(Date.now() - started < 5000, 'gave up long before the default 5s');
  });

  it('close() aborts a POST in flight (retryable) and later reports fail', async () => {
    sink.answer = () => 'hang';
    const { handler } = await createZipkin({ url: sink.url, timeout: '30s' });
    const pending = rejectionOf(handler.report!([tracespan()], CTX));
    await waitFor(() => sink.requests.length === 1, { timeoutMs: 5000, what: 'the POST to arrive' });
    await handler.close!();
    const err = await pending;
    assert.equal(isPermanent(err), false);
    assert.match(String(err), /handler closed/);
    assert.equal(isPermanent(await rejectionOf(handler.report!([tracespan()], CTX))), false);
  });

  it('an empty url disables the handler: reports resolve, nothing is sent or counted, one log line says so', async () => {
    const { handler, env, logs } = await createZipkin({ url: '' });
    await handler.report!(spans(5), CTX);
    await handler.report!([tracespan({ spanId: 'bad' })], CTX);
    assert.equal(sink.requests.length, 0);
    assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 0);
    assert.equal(await metric(env, 'mixer_zipkin_spans_dropped_total'), 0);
    assert.equal(logs.filter((l) => /disabled/.test(String(l.msg))).length, 1);
  });

  it('splits a batch into POSTs of maxSpansPerRequest, every span arriving once', async () => {
    const { handler, env } = await createZipkin({ url: sink.url, maxSpansPerRequest: 3 });
    await handler.report!(spans(7), CTX);
    assert.deepEqual(
      sink.requests.map((r) => (JSON.parse(r.body) as unknown[]).length),
      [3, 3, 1],
    );
    assert.deepEqual(
      sink.accepted().map((s) => s.id),
      spans(7).map((i) => i.fields.spanId),
    );
    assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 7);
  });

  it('fails the batch when any chunk fails, counting only what arrived; a redelivery sends it all again', async () => {
    sink.answer = (_r, i) => (i === 1 ? { status: 503 } : { status: 202 });
    const { handler, env } = await createZipkin({ url: sink.url, maxSpansPerRequest: 2 });
    const err = await rejectionOf(handler.report!(spans(5), CTX));
    assert.equal(isPermanent(err), false);
    assert.equal(sink.requests.length, 2, 'stops at the failed chunk');
    assert.equal(await metric(env, 'mixer_zipkin_spans_sent_total'), 2);
    await handler.report!(spans(5), { jobId: CTX.jobId, attempt: 2 });
    assert.equal(sink.accepted().length, 7, 'at-least-once: the first chunk arrived twice');
  });
});
