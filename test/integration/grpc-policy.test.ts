import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { freePort, startMixer } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { grpcClients } from '../support/grpc-clients';
import { compress, DICTIONARY } from '../support/mixer-v1-encode';
import { parsePromText, sumOf } from '../support/prom-text';
import { waitFor } from '../support/wait';

/** An ext_authz CheckRequest as Envoy sends it for `app` calling `host`. */
function authzRequest(app: string, host: string) {
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.0.0.7', port_value: 41234 } },
        labels: { app, version: 'v1' },
        principal: 'spiffe://cluster.local/ns/default/sa/' + app,
      },
      destination: { address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } },
      request: {
        time: { seconds: Math.floor(Date.now() / 1000), nanos: 5 },
        http: {
          id: 'req-1',
          method: 'GET',
          path: '/items?x=1',
          host: `${host}:8080`,
          scheme: 'http',
          headers: { ':authority': host, 'x-request-id': 'req-1' },
          protocol: 'HTTP/1.1',
        },
      },
      context_extensions: { route: 'items' },
    },
  };
}

/** A mixer v1 CheckRequest for `app` calling service `service`. */
function v1Request(app: string, service: string, globalWordCount = DICTIONARY.length) {
  return {
    global_word_count: globalWordCount,
    attributes: compress({ 'source.labels': { app, version: 'v1' }, 'destination.service.name': service, 'request.path': '/' }),
  };
}

describe('gRPC policy: Envoy ext_authz (gRPC and HTTP) and Istio mixer v1 Check against a real mixer serve', function () {
  this.timeout(40_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;
  let grpcPort: number;
  let c: ReturnType<typeof grpcClients>;

  before(async () => {
    cfg = new TempConfigDir();
    grpcPort = await freePort();
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_GRPC_PORT: String(grpcPort) });
    c = grpcClients(grpcPort);
  });
  after(async () => {
    c?.close();
    await mixer?.stop();
    cfg?.cleanup();
  });

  /** Envoy's HTTP ext_authz call: the original method, path under the prefix, and headers (Host included, which fetch cannot set). */
  const httpAuthz = (app: string, host: string) =>
    new Promise<{ status: number; text: () => Promise<string> }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: mixer.port,
          method: 'GET',
          path: '/v1/ext-authz/items',
          headers: { host, 'x-mixer-source-labels': `app=${app},version=v1`, 'x-request-id': 'h-1' },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: () => Promise.resolve(body) }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('the seed deny rule denies frontend → backend through all three doors, allows others, and lifts without a restart', async () => {
    assert.equal((await c.authzCheck(authzRequest('frontend', 'backend.default.svc.cluster.local'))).http_response, 'ok_response');
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    const denied = await waitFor('the deny rule to bite', async () => {
      const r = await c.authzCheck(authzRequest('frontend', 'backend.default.svc.cluster.local'));
      return r.http_response === 'denied_response' ? r : undefined;
    });
    assert.deepEqual(denied.status, { code: 7, message: 'frontend may not call backend' });
    assert.equal(denied.denied_response.status.code, 'Forbidden');
    assert.equal(denied.denied_response.body, 'frontend may not call backend');

    const other = await c.authzCheck(authzRequest('reviews', 'backend.default.svc.cluster.local'));
    assert.equal(other.http_response, 'ok_response');
    assert.equal(other.status.code, 0);
    assert.equal((await c.authzCheck(authzRequest('frontend', 'ratings.default.svc.cluster.local'))).http_response, 'ok_response');

    const http = await httpAuthz('frontend', 'backend');
    assert.equal(http.status, 403);
    assert.equal(await http.text(), 'frontend may not call backend');
    assert.equal((await httpAuthz('reviews', 'backend')).status, 200);

    const v1 = await c.mixerCheck(v1Request('frontend', 'backend'));
    assert.deepEqual(v1.precondition.status, { code: 7, message: 'frontend may not call backend' });
    assert.equal((await c.mixerCheck(v1Request('reviews', 'backend'))).precondition.status.code, 0);

    cfg.remove('deny.yaml');
    await waitFor(
      'the rule removal',
      async () => (await c.authzCheck(authzRequest('frontend', 'backend.default.svc.cluster.local'))).http_response === 'ok_response',
    );
    assert.equal((await c.mixerCheck(v1Request('frontend', 'backend'))).precondition.status.code, 0);
    assert.equal((await httpAuthz('frontend', 'backend')).status, 200);
    assert.equal(mixer.child.exitCode, null);
  });

  it('a mixer v1 verdict carries valid_duration, valid_use_count and referenced attributes in compressed form', async () => {
    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    try {
      const r = await waitFor('deny', async () => {
        const x = await c.mixerCheck(v1Request('frontend', 'backend'));
        return x.precondition.status.code === 7 ? x : undefined;
      });
      const p = r.precondition;
      assert.deepEqual(p.valid_duration, { seconds: '5', nanos: 0 });
      assert.equal(p.valid_use_count, 1000);
      const ref = p.referenced_attributes;
      const word = (i: number) => (i >= 0 ? DICTIONARY[i] : ref.words[-i - 1]);
      const got = ref.attribute_matches.map((m: any) => `${word(m.name)}${m.map_key !== undefined ? `[${word(m.map_key)}]` : ''}:${m.condition}`).sort();
      assert.deepEqual(got, ['destination.service.name:EXACT', 'source.labels[app]:EXACT']);
      const names = ref.attribute_matches.map((m: any) => m.name);
      assert.ok(names.includes(DICTIONARY.indexOf('destination.service.name')), 'a known word travels as its global index');
      assert.deepEqual(ref.words, ['app'], 'a word not in the dictionary is spelled out');

      // A client that knows only the first 100 global words gets the others spelled out.
      const old = await c.mixerCheck(v1Request('frontend', 'backend', 100));
      const oldRef = old.precondition.referenced_attributes;
      assert.ok(oldRef.words.includes('destination.service.name'), 'word 191 is past what the client knows');
      assert.ok(!oldRef.words.includes('source.labels'), 'word 5 is known to it');
      assert.ok(oldRef.attribute_matches.every((m: any) => m.name < 100 && (m.map_key ?? -1) < 100));

      // An absent attribute is referenced as ABSENCE.
      const absent = await c.mixerCheck({ global_word_count: DICTIONARY.length, attributes: compress({ 'destination.service.name': 'backend' }) });
      assert.equal(absent.precondition.status.code, 0);
      const ab = absent.precondition.referenced_attributes;
      const abWord = (i: number) => (i >= 0 ? DICTIONARY[i] : ab.words[-i - 1]);
      assert.ok(ab.attribute_matches.some((m: any) => abWord(m.name) === 'source.labels' && abWord(m.map_key) === 'app' && m.condition === 'ABSENCE'));
    } finally {
      cfg.remove('deny.yaml');
    }
  });

  it('answers quotas, and honours deduplication_id: a retried check is not charged again', async () => {
    const generation = async (): Promise<number> => ((await (await fetch(`${mixer.url}/v1/config/status`)).json()) as { generation: number }).generation;
    const before = await generation();
    cfg.write(
      'quota.yaml',
      `apiVersion: mixer/v1
kind: Handler
metadata: {name: local-quota}
spec: {adapter: memquota, params: {quotas: [{name: requestcount, maxAmount: 1, validDuration: 1h}], minDeduplicationDuration: 1m}}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: requestcount}
spec: {template: quota, params: {dimensions: {destination: destination.service.name | "unknown"}}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: quota-ratings}
spec:
  match: {all: [{fact: destination.service.name, operator: equal, value: ratings}]}
  actions: [{handler: local-quota, instances: [requestcount]}]
`,
    );
    try {
      const ask = (id: string) => c.mixerCheck({ ...v1Request('reviews', 'ratings'), deduplication_id: id, quotas: { requestcount: { amount: 1 } } });
      await waitFor('the quota config to load', async () => (await generation()) > before);
      const first = await ask('retry-1');
      assert.equal(first.quotas.requestcount.granted_amount, '1');
      assert.equal(first.precondition.status.code, 0);
      const retried = await ask('retry-1');
      assert.equal(retried.quotas.requestcount.granted_amount, '1', 'the retry is the same request: not charged again');
      const next = await ask('other-2');
      assert.equal(next.quotas.requestcount.granted_amount, '0', 'a new request finds the quota spent');
      assert.equal(next.precondition.status.code, 8);
      // An Istio proxy's QuotaSpec may name a quota Mixer has no instance for: granted in full, as Istio's Mixer did.
      const istio = await c.mixerCheck({ ...v1Request('reviews', 'ratings'), quotas: { RequestCount: { amount: 3, best_effort: true } } });
      assert.equal(istio.quotas.RequestCount.granted_amount, '3');
    } finally {
      cfg.remove('quota.yaml');
    }
  });

  it('counts gRPC calls in mixer_grpc_requests_total by service, method and code', async () => {
    await assert.rejects(c.mixerCheck({ attributes: { strings: { 9999: 1 } } }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    const s = parsePromText(await (await fetch(`${mixer.url}/metrics`)).text());
    assert.ok(sumOf(s, 'mixer_grpc_requests_total', { service: 'envoy.service.auth.v3.Authorization', method: 'Check', code: 'OK' }) >= 4);
    assert.ok(sumOf(s, 'mixer_grpc_requests_total', { service: 'istio.mixer.v1.Mixer', method: 'Check', code: 'INVALID_ARGUMENT' }) >= 1);
    assert.ok(sumOf(s, 'mixer_grpc_request_duration_seconds_count', { service: 'istio.mixer.v1.Mixer', method: 'Check' }) >= 1);
  });
});
