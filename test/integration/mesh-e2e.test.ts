import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { REPO, startMixer } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { DENY_FRONTEND_TO_BACKEND, TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { parsePromText, sumOf } from '../support/prom-text';
import { applyConfig, getJson, runConcurrently, startMeshIngress, startMeshService } from '../support/mesh';
import type { MeshIngress, MeshService } from '../support/mesh';
import { waitFor } from '../support/wait';
import { deleteKeys } from '../support/redis-keys';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MOBILE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1';
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0';

const routeRule = (name: string, spec: string) =>
  `apiVersion: mixer/v1\nkind: RouteRule\nmetadata: {name: ${name}, namespace: default}\nspec:\n  destination: {name: backend}\n${spec}\n`;
const ALL_V1 = routeRule('backend-default', '  precedence: 1\n  route:\n    - labels: {version: v1}\n      weight: 100');
const MOBILE_V2 = routeRule(
  'backend-mobile',
  '  precedence: 2\n  match:\n    request:\n      headers:\n        user-agent: {regex: ".*Mobile.*"}\n  route:\n    - labels: {version: v2}',
);
const ALL_V1_RETRY = `${ALL_V1}  httpReqRetries:\n    simpleRetry: {attempts: 2, perTryTimeout: 2s}\n`;
/** Every request to backend waits 300 ms; 30% of them (decided first) are answered 418 by the caller's sidecar instead. */
const FAULTS = `${ALL_V1}  httpFault:\n    delay: {percent: 100, fixedDelay: 300ms}\n    abort: {percent: 30, httpStatus: 418}\n`;
const FAULT_DELAY_MS = 300;
const SPLIT_90_10 = routeRule(
  'backend-default',
  '  precedence: 1\n  route:\n    - labels: {version: v1}\n      weight: 90\n    - labels: {version: v2}\n      weight: 10',
);

interface Answer {
  status: number;
  text: string;
  version?: string;
  /** From sending the request to reading the whole answer. */
  ms: number;
}

describe('the mesh, end to end: ingress → frontend → backend through sidecars (real processes)', function () {
  this.timeout(300_000);
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const cfg = new TempConfigDir();
  const sink = new HttpSink();
  let env: NodeJS.ProcessEnv;
  let mixer: MixerProcess;
  let ingress: MeshIngress;
  let frontend: MeshService;
  let backendV1: MeshService;
  let backendV2: MeshService | undefined;

  async function ping(headers: Record<string, string> = {}): Promise<Answer> {
    const t0 = performance.now();
    const r = await fetch(`${ingress.url}/ping`, { headers: { 'user-agent': DESKTOP, ...headers } });
    const text = await r.text();
    let version: string | undefined;
    if (r.status === 200) version = (JSON.parse(text) as { backend: { version: string } }).backend.version;
    return { status: r.status, text, version, ms: performance.now() - t0 };
  }

  async function samples() {
    return parsePromText(await (await fetch(`${mixer.url}/metrics`)).text());
  }

  const proxies = (): string[] => [ingress.adminUrl, frontend.adminUrl, backendV1.adminUrl, ...(backendV2 ? [backendV2.adminUrl] : [])];

  before(async () => {
    for (const f of ['metrics.yaml', 'tracing.yaml', 'graph.yaml']) copyFileSync(path.join(REPO, 'rules', f), path.join(cfg.dir, f));
    await sink.start();
    await redis.connect();
    env = {
      REDIS_URL,
      MIXER_KEY_PREFIX: prefix,
      ZIPKIN_URL: sink.url,
      MIXER_CONFIG_DIR: cfg.dir,
      MIXER_MESH_KEY: randomBytes(24).toString('hex'),
      MIXER_LOG_LEVEL: 'warn',
    };
    mixer = await startMixer(env);
    [backendV1, frontend] = await Promise.all([startMeshService(env, mixer.url, 'backend', 'v1'), startMeshService(env, mixer.url, 'frontend', 'v1')]);
    ingress = await startMeshIngress(env, mixer.url, ['/=frontend']);
  });

  after(async () => {
    await Promise.all([ingress?.proc.stop(), frontend?.stop(), backendV1?.stop(), backendV2?.stop()]);
    await mixer?.stop();
    await sink.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    cfg.cleanup();
  });

  it('a request to the ingress /ping reaches frontend then backend; metrics, one trace and the graph show it', async () => {
    const requestId = randomUUID();
    const first = await ping({ 'x-request-id': requestId });
    assert.equal(first.status, 200, first.text);
    const body = JSON.parse(first.text);
    assert.equal(body.service, 'frontend');
    assert.deepEqual([body.backend.service, body.backend.version], ['backend', 'v1']);
    for (let i = 0; i < 4; i++) assert.equal((await ping()).status, 200);

    // Metrics: the backend's sidecar counted 5 requests from frontend to backend v1 (and the frontend's, as the source).
    const edge = { source_app: 'frontend', destination_app: 'backend', destination_version: 'v1', destination_service_name: 'backend', response_code: '200' };
    await waitFor(
      'istio_requests_total for frontend → backend v1',
      async () => sumOf(await samples(), 'istio_requests_total', { ...edge, reporter: 'destination' }) === 5,
      30_000,
      200,
    );
    const s = await samples();
    assert.equal(sumOf(s, 'istio_requests_total', { ...edge, reporter: 'source', source_workload: 'frontend-v1', destination_workload: 'backend-v1' }), 5);
    assert.equal(
      sumOf(s, 'istio_requests_total', { reporter: 'destination', source_app: 'ingress', destination_app: 'frontend', connection_security_policy: 'none' }),
      5,
    );

    // Zipkin: the spans of the first request form one trace: ingress → frontend (root), frontend → backend (its child).
    type Span = { traceId: string; id: string; parentId?: string; kind: string; localEndpoint?: { serviceName?: string }; tags?: Record<string, string> };
    const spans = await waitFor(
      'four spans of the first request at the Zipkin sink',
      () => {
        const mine = (sink.received as Span[]).filter((x) => x.tags?.['guid:x-request-id'] === requestId);
        return mine.length >= 4 ? mine : undefined;
      },
      30_000,
      100,
    );
    assert.equal(new Set(spans.map((x) => x.traceId)).size, 1, 'one trace');
    const by = (kind: string, service: string) => spans.find((x) => x.kind === kind && x.localEndpoint?.serviceName === service);
    const ingressClient = by('CLIENT', 'ingress');
    const frontendServer = by('SERVER', 'frontend-v1');
    const frontendClient = by('CLIENT', 'frontend-v1');
    const backendServer = by('SERVER', 'backend-v1');
    assert.ok(ingressClient && frontendServer && frontendClient && backendServer, JSON.stringify(spans));
    assert.equal(ingressClient.parentId, undefined, 'the ingress starts the trace');
    assert.equal(frontendServer.id, ingressClient.id, 'the frontend serves the span the ingress opened');
    assert.equal(frontendClient.parentId, frontendServer.id, "the frontend's call to backend is a child of its request");
    assert.equal(backendServer.id, frontendClient.id);
    assert.equal(backendServer.parentId, frontendServer.id);

    // The graph: ingress → frontend → backend.
    const graph = await getJson(`${mixer.url}/v1/graph?window=5m`);
    const edges = graph.elements.edges
      .map((e: { data: { source: string; target: string; requests: number } }) => `${e.data.source} -> ${e.data.target} ${e.data.requests}`)
      .sort();
    assert.deepEqual(edges, ['app:default/frontend/v1 -> app:default/backend/v1 5', 'app:istio-system/ingress -> app:default/frontend/v1 5']);
  });

  it('the deny rule makes frontend → backend fail with 403 (counted), and removing it lets requests through again; nothing restarts', async () => {
    const pids = [mixer, ingress.proc, frontend.sidecar, backendV1.sidecar].map((p) => p.pid);
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    const denied = await waitFor(
      'requests denied',
      async () => {
        const r = await ping();
        return r.status === 403 ? r : undefined;
      },
      15_000,
      50,
    );
    assert.match(denied.text, /PERMISSION_DENIED:frontend may not call backend/);
    for (let i = 0; i < 3; i++) assert.equal((await ping()).status, 403);
    // An app cannot dodge the rule by calling the backend's sidecar itself with a made-up (or no) identity.
    const backendInbound = `http://127.0.0.1:${backendV1.inboundPort}/ping`;
    const forged = await fetch(backendInbound, {
      headers: {
        'x-mesh-identity': `${Buffer.from(JSON.stringify({ v: 1, s: 'admin', n: 'default', w: 'admin', l: { app: 'admin' }, p: 'x', i: 'x', d: 'default/backend', t: Date.now() })).toString('base64url')}.AAAA`,
      },
    });
    assert.equal(forged.status, 401, 'a forged identity is refused');
    assert.equal((await fetch(backendInbound)).status, 401, 'no identity is refused');
    await waitFor(
      'the failures counted with response_code 403',
      async () =>
        sumOf(await samples(), 'istio_requests_total', { reporter: 'destination', source_app: 'frontend', destination_app: 'backend', response_code: '403' }) >=
        4,
      30_000,
      200,
    );

    cfg.remove('deny.yaml');
    await waitFor('requests allowed again', async () => (await ping()).status === 200, 15_000, 50);
    for (const p of [mixer, ingress.proc, frontend.sidecar, backendV1.sidecar]) assert.equal(p.child.exitCode, null, 'still running');
    assert.deepEqual(
      [mixer, ingress.proc, frontend.sidecar, backendV1.sidecar].map((p) => p.pid),
      pids,
    );
  });

  it('with v2 running, a 100% v1 rule keeps all traffic on v1; a precedence-2 Mobile rule sends mobile clients (only) to v2', async () => {
    backendV2 = await startMeshService(env, mixer.url, 'backend', 'v2');
    // Without a rule, requests bounce between v1 and v2 (this also shows the frontend's sidecar knows v2).
    await waitFor('a request served by v2', async () => (await ping()).version === 'v2', 20_000, 20);

    await applyConfig(mixer.url, [frontend.adminUrl], () => cfg.write('route-default.yaml', ALL_V1));
    assert.deepEqual((await getJson(`${frontend.adminUrl}/status`)).routeRules, ['default/backend-default']);
    const plain = await runConcurrently(100, 8, () => ping({ 'user-agent': MOBILE }));
    assert.deepEqual([...new Set(plain.map((a) => `${a.status} ${a.version}`))], ['200 v1'], 'all traffic stays on v1, mobile included');

    await applyConfig(mixer.url, [frontend.adminUrl], () => cfg.write('route-mobile.yaml', MOBILE_V2));
    assert.deepEqual((await getJson(`${frontend.adminUrl}/status`)).routeRules, ['default/backend-mobile', 'default/backend-default']);
    const mixed = await runConcurrently(200, 8, (i) => ping({ 'user-agent': i % 2 === 0 ? MOBILE : DESKTOP }));
    assert.deepEqual([...new Set(mixed.filter((_, i) => i % 2 === 0).map((a) => `${a.status} ${a.version}`))], ['200 v2'], 'mobile requests reach only v2');
    assert.deepEqual([...new Set(mixed.filter((_, i) => i % 2 === 1).map((a) => `${a.status} ${a.version}`))], ['200 v1'], 'the rest only v1');
  });

  it('a backend that fails its first attempt: the retry rule hides it from the caller', async () => {
    const flaky = { 'x-demo-flaky': '1' };
    const before = await ping(flaky);
    assert.equal(before.status, 503, 'without a retry rule the failure reaches the caller');

    await applyConfig(mixer.url, [frontend.adminUrl], () => cfg.write('route-default.yaml', ALL_V1_RETRY));
    const retriesBefore = (await getJson(`${frontend.adminUrl}/status`)).outbound.retries as number;
    const answers = await runConcurrently(20, 4, () => ping(flaky));
    assert.deepEqual([...new Set(answers.map((a) => `${a.status} ${a.version}`))], ['200 v1'], 'every flaky request succeeds');
    const retries = (await getJson(`${frontend.adminUrl}/status`)).outbound.retries - retriesBefore;
    assert.ok(retries >= 20, `each was retried (${retries} retries)`);
    await waitFor(
      "backend v1's 503s counted (the failures the caller never saw)",
      async () =>
        sumOf(await samples(), 'istio_requests_total', {
          reporter: 'destination',
          destination_app: 'backend',
          destination_version: 'v1',
          response_code: '503',
        }) >= 21,
      30_000,
      200,
    );
  });

  it('90/10 weights over 2,000 requests land within ±3 points', async () => {
    await applyConfig(mixer.url, proxies(), () => cfg.remove('route-mobile.yaml'));
    await applyConfig(mixer.url, proxies(), () => cfg.write('route-default.yaml', SPLIT_90_10));
    const answers = await runConcurrently(2000, 16, () => ping());
    const counts: Record<string, number> = {};
    for (const a of answers) counts[`${a.status} ${a.version}`] = (counts[`${a.status} ${a.version}`] ?? 0) + 1;
    assert.equal((counts['200 v1'] ?? 0) + (counts['200 v2'] ?? 0), 2000, JSON.stringify(counts));
    const v2Share = (counts['200 v2'] ?? 0) / 2000;
    assert.ok(Math.abs(v2Share - 0.1) <= 0.03, `v2 got ${(v2Share * 100).toFixed(1)}% (want 10 ± 3): ${JSON.stringify(counts)}`);
  });

  it("httpFault: 30% aborted with the rule's status by the caller's sidecar, the rest delayed at least fixedDelay; reported as FI and DI", async () => {
    const faultCount = async (flags: string) =>
      sumOf(await samples(), 'istio_requests_total', {
        reporter: 'source',
        source_app: 'frontend',
        destination_service_name: 'backend',
        response_flags: flags,
      });
    const [fiBefore, diBefore] = [await faultCount('FI'), await faultCount('DI')];
    const injectedBefore = (await getJson(`${frontend.adminUrl}/status`)).outbound.faultsInjected as number;
    await applyConfig(mixer.url, proxies(), () => cfg.write('route-default.yaml', FAULTS));

    const n = 300;
    const answers = await runConcurrently(n, 30, () => ping());
    const aborted = answers.filter((a) => a.status === 418);
    const served = answers.filter((a) => a.status === 200);
    assert.equal(aborted.length + served.length, n, JSON.stringify([...new Set(answers.map((a) => `${a.status} ${a.text.slice(0, 60)}`))]));
    // 30% of 300: the standard deviation is 2.6 points, so ±10 points fails only when the percentage is not applied.
    assert.ok(Math.abs(aborted.length / n - 0.3) <= 0.1, `${aborted.length} of ${n} aborted (want 30% ± 10)`);
    assert.deepEqual([...new Set(aborted.map((a) => a.text))], ['fault filter abort']);
    assert.deepEqual([...new Set(served.map((a) => a.version))], ['v1']);
    // A lower bound only; 2 ms of slack for timers that fire on a clock read at the start of their loop turn.
    const quickest = Math.min(...served.map((a) => a.ms));
    assert.ok(quickest >= FAULT_DELAY_MS - 2, `every delayed request took at least ${FAULT_DELAY_MS} ms (the quickest took ${quickest.toFixed(1)} ms)`);

    assert.equal(
      (await getJson(`${frontend.adminUrl}/status`)).outbound.faultsInjected - injectedBefore,
      n,
      'each request got one fault (an abort, or else a delay)',
    );
    await waitFor(
      'aborts reported as FI and delays as DI by the calling sidecar',
      async () => (await faultCount('FI')) - fiBefore === aborted.length && (await faultCount('DI')) - diBefore === served.length,
      30_000,
      200,
    );

    await applyConfig(mixer.url, proxies(), () => cfg.remove('route-default.yaml'));
    assert.equal((await ping()).status, 200, 'no faults once the rule is gone');
  });
});
