import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { startMixer, startWorkerProcess, postJson, REPO } from '../support/processes';
import type { MixerProcess, WorkerProcess } from '../support/processes';
import { HttpSink } from '../support/http-sink';
import { parsePromText, sumOf } from '../support/prom-text';
import { frontendToBackend, batches } from '../support/traffic';
import type { GeneratedReport } from '../support/traffic';
import { waitFor } from '../support/wait';
import { loadSpanListValidator } from '../unit/adapters/zipkin/zipkin-schema';
import * as path from 'node:path';
import { forEachRedisMode } from '../support/redis-topology';

async function scrape(url: string) {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

async function send(mixer: MixerProcess, reports: GeneratedReport[], size = 100): Promise<void> {
  for (const batch of batches(reports, size)) {
    const r = await postJson(`${mixer.url}/v1/report`, { attributes: batch.map((x) => x.bag) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body, { accepted: batch.length });
  }
}

/** Asserts /metrics and the graph count exactly `reports`, per label set. */
async function assertExact(mixer: MixerProcess, reports: GeneratedReport[]): Promise<void> {
  const samples = await waitFor(
    'every report counted in /metrics',
    async () => {
      const s = await scrape(mixer.url);
      // Every metric of a batch is applied on its own (on a cluster each metric's state is its own slot):
      // wait for the last of them, not only the first.
      const done = sumOf(s, 'istio_requests_total') === reports.length && sumOf(s, 'istio_request_duration_milliseconds_count') === reports.length;
      return done ? s : undefined;
    },
    60_000,
    200,
  );
  for (const version of ['v1', 'v2'] as const) {
    for (const code of [200, 404, 503]) {
      const want = reports.filter((r) => r.version === version && r.code === code).length;
      const got = sumOf(samples, 'istio_requests_total', {
        reporter: 'destination',
        source_app: 'frontend',
        source_workload: 'frontend-v1',
        destination_app: 'backend',
        destination_version: version,
        destination_workload: `backend-${version}`,
        destination_service: 'backend.default.svc.cluster.local',
        response_code: String(code),
        connection_security_policy: 'none',
      });
      assert.equal(got, want, `istio_requests_total for ${version} ${code}`);
    }
  }
  assert.equal(sumOf(samples, 'istio_request_duration_milliseconds_count'), reports.length);
  // Each handler has its own queue: the graph catches up on its own (after a killed worker's batch
  // is taken up again), so wait for it too, then check it is exact.
  const graph: any = await waitFor(
    'every report on the graph',
    async () => {
      const g: any = await (await fetch(`${mixer.url}/v1/graph?window=5m`)).json();
      const n = g.elements.edges.reduce((sum: number, e: { data: { requests: number } }) => sum + e.data.requests, 0);
      return n >= reports.length ? g : undefined;
    },
    60_000,
    200,
  );
  const edges = graph.elements.edges.map((e: { data: any }) => e.data);
  const total = edges.reduce((n: number, e: { requests: number }) => n + e.requests, 0);
  assert.equal(total, reports.length, 'graph edges count every request once');
  for (const version of ['v1', 'v2']) {
    const target = graph.elements.nodes.find((n: { data: any }) => n.data.app === 'backend' && n.data.version === version)?.data.id;
    assert.ok(target, `a node for backend ${version}`);
    const edge = edges.find((e: { target: string }) => e.target === target);
    assert.ok(edge, `an edge to backend ${version}`);
    assert.equal(edge.requests, reports.filter((r) => r.version === version).length);
    assert.equal(edge.errors, reports.filter((r) => r.version === version && r.code >= 500).length);
  }
}

forEachRedisMode((mode) => {
  describe('report pipeline: Redis queue, two worker processes, default config @redis', function () {
    this.timeout(120_000);
    let prefix: string;
    let sink: HttpSink;
    let mixer: MixerProcess;
    let workers: WorkerProcess[] = [];
    let env: NodeJS.ProcessEnv;

    beforeEach(async () => {
      prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
      sink = new HttpSink();
      await sink.start();
      env = { ...mode.env, MIXER_KEY_PREFIX: prefix, ZIPKIN_URL: sink.url, MIXER_CONFIG_DIR: path.join(REPO, 'rules'), MIXER_REPORT_MAX_BACKOFF_MS: '2000' };
      mixer = await startMixer(env, ['--no-worker']);
      workers = await Promise.all([startWorkerProcess(env), startWorkerProcess(env)]);
    });
    afterEach(async () => {
      await Promise.all([mixer?.stop(), ...workers.map((w) => w.stop()), sink?.stop()]);
      await mode.deleteKeys(prefix);
    });
    it('2,000 reports: /metrics and the graph count exactly, and Zipkin gets one valid span per sampled report', async () => {
      const reports = frontendToBackend(2000);
      await send(mixer, reports);
      await assertExact(mixer, reports);

      const sampled = reports.filter((r) => r.sampled);
      await waitFor('every sampled span at the sink', () => sink.received.length >= sampled.length, 30_000, 100);
      const validate = loadSpanListValidator();
      const byId = new Map((sink.received as Array<{ traceId: string; id: string; kind: string }>).map((s) => [s.id, s]));
      assert.equal(byId.size, sampled.length, 'one span per sampled report, none for unsampled ones');
      for (const r of sampled) {
        const span = byId.get(r.spanId);
        assert.ok(span, `span ${r.spanId}`);
        assert.equal(span.traceId, r.traceId);
        assert.equal(span.kind, 'SERVER');
        assert.deepEqual(validate([span]), [], 'the span validates against the Zipkin v2 API spec');
      }
      for (const w of workers) {
        const s = await scrape(w.metricsUrl);
        assert.ok(sumOf(s, 'mixer_adapter_dispatch_total', { result: 'ok' }) > 0, 'both workers did some of the work');
        assert.equal(sumOf(s, 'istio_requests_total'), 0, 'workers do not render mesh metrics (no double counting in Prometheus)');
      }
      // Every handler done with every batch: the stored bags are deleted, nothing accumulates in Redis.
      await waitFor('no batch left in Redis', async () => (await mode.keys(`${prefix}*batch:*`)).length === 0, 20_000, 100);
    });

    it('a worker killed with SIGKILL mid-stream loses nothing and counts nothing twice', async () => {
      const reports = frontendToBackend(2000, 7);
      const sending = send(mixer, reports, 50);
      await waitFor('the first deliveries', async () => sumOf(await scrape(mixer.url), 'istio_requests_total') > 0, 20_000, 20);
      await workers[0].stop('SIGKILL');
      await sending;
      await assertExact(mixer, reports);
    });
  });
});
