/**
 * `npm run bench -- grpc`: Mixer's gRPC doors beside baselines measured in the same run.
 *
 * (1) Checks/s through Envoy's ext_authz (`envoy.service.auth.v3.Authorization/Check`) against Mixer
 *     with 100 generated rules (the check bench's config and bags, turned into AttributeContexts), beside
 *     a bare @grpc/grpc-js server answering a constant OK: the same client in this process, the same
 *     concurrency, duration and requests. Every request's verdict is checked against the config's model
 *     first, and the verdict mix under load must match it. Target: ≥ 0.5× the bare server.
 * (2) ALS entries/s end to end: `--clients` Envoy-like access-log streams of 100-entry messages into
 *     Mixer (Redis queue, default config), until every entry is counted in `istio_requests_total`,
 *     beside the report bench's baseline (LPUSH + BRPOP/parse of the same number of ~1 KB bags).
 *     Target: ≥ 0.11×, as for `/v1/report`.
 * Flags: --duration <s> (default 10), --connections <n> (calls in flight, default 50), --clients <n> (ALS
 * streams, default 4), --rules <n> (default 100), --warmup <s> (default 2).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { serviceAt, SERVICES } from '../src/api/grpc/protos';
import { generateBodies, generateConfig } from './check-fixtures';
import { cpuSecondsOf, freePort, startServer } from './load';
import type { ServerProcess } from './load';
import type { BenchOptions } from './options';
import { baseline, countedBags, makeBatches, startRedis } from './report';

const REPO = path.resolve(__dirname, '..', '..');
const TARGETS = { checkRatio: 0.5, alsRatio: 0.11 };
/** Published figures printed beside ours (DESIGN.md "Measured ceilings"). */
const PUBLISHED = [
  'Istio 1.4 Mixer: ~0.6 vCPU per 1,000 requests/s of telemetry, +6–10 ms at p90',
  'Open Policy Agent Envoy ext_authz plugin: p99 ≈ 3 ms at 1,000 checks/s',
  '@grpc/grpc-js unary server on these machines: ~33k calls/s',
];

type Attrs = Record<string, unknown>;

/** The AttributeContext Envoy would send for a check bag of the check bench. */
function contextOf(a: Attrs): Record<string, unknown> {
  const headers = { ...(a['request.headers'] as Record<string, string>) };
  const host = a['destination.service.host'] as string;
  return {
    attributes: {
      source: {
        address: { socket_address: { address: a['source.ip'], port_value: 40000 } },
        principal: a['source.principal'],
        labels: a['source.labels'],
      },
      destination: { address: { socket_address: { address: a['destination.ip'], port_value: 8080 } }, labels: a['destination.labels'] },
      request: {
        time: { seconds: Math.floor(Date.parse(a['request.time'] as string) / 1000), nanos: 0 },
        http: { id: headers['x-request-id'], method: a['request.method'], path: a['request.path'], host, scheme: 'http', headers, protocol: 'HTTP/1.1' },
      },
    },
  };
}

/** A CheckResponse as far as the bench reads it. */
interface Verdict {
  status?: { code?: number };
}
type UnaryCall = (r: unknown, cb: (e: grpc.ServiceError | null, v: Verdict | undefined) => void) => void;

interface CallRun {
  callsPerSec: number;
  p50: number;
  p99: number;
  serverCpuUsPerCall: number;
  clientCpu: number;
  codes: Record<number, number>;
  errors: number;
}

/** Closed loop: `inFlight` calls outstanding on one channel, for `seconds`; latencies in ms. */
async function load(client: grpc.Client, requests: readonly unknown[], inFlight: number, seconds: number, server: ServerProcess): Promise<CallRun> {
  const check = (client as unknown as { Check: UnaryCall }).Check.bind(client);
  const lat: number[] = [];
  const codes: Record<number, number> = {};
  let errors = 0;
  let next = 0;
  const cpu0 = server.cpuSeconds();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from(
      { length: inFlight },
      () =>
        new Promise<void>((resolve) => {
          const one = (): void => {
            if (performance.now() >= until) return resolve();
            const s = performance.now();
            check(requests[next++ % requests.length], (e, v) => {
              lat.push(performance.now() - s);
              if (e) errors++;
              else {
                const code = v?.status?.code ?? 0;
                codes[code] = (codes[code] ?? 0) + 1;
              }
              one();
            });
          };
          one();
        }),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  lat.sort((x, y) => x - y);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
  return {
    callsPerSec: lat.length / secs,
    p50: q(0.5),
    p99: q(0.99),
    serverCpuUsPerCall: ((server.cpuSeconds() - cpu0) / lat.length) * 1e6,
    clientCpu: (own.user + own.system) / 1e6 / secs,
    codes,
    errors,
  };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

async function checkPart(o: BenchOptions, log: (s: string) => void): Promise<{ bare: CallRun; mixer: CallRun }> {
  const rules = Number(o.flags.rules ?? 100);
  const warmup = Number(o.flags.warmup ?? 2);
  const root = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-grpc-'));
  try {
    copyFileSync(path.join(REPO, 'rules', 'attributes.yaml'), path.join(root, 'attributes.yaml'));
    const config = generateConfig(rules);
    for (const [name, text] of Object.entries(config.files)) writeFileSync(path.join(root, name), text);
    const set = generateBodies(config, 256);
    const bags = set.bodies.map((b) => (JSON.parse(b) as { attributes: Attrs }).attributes);
    const requests = bags.map(contextOf);
    const Authz = serviceAt(SERVICES.authz);
    const runOne = async (name: string, args: string[], env: NodeJS.ProcessEnv, grpcPort: number, httpPort: number, verify: boolean): Promise<CallRun> => {
      const server = await startServer({
        name,
        args,
        env,
        port: httpPort,
        ready: async () => {
          const c = new Authz(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
          try {
            await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 500, (e) => (e ? rej(e) : res())));
            return true;
          } finally {
            c.close();
          }
        },
      });
      const client = new Authz(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
      try {
        if (verify) {
          const unary = (client as unknown as { Check: UnaryCall }).Check.bind(client);
          const call = (r: unknown): Promise<Verdict | undefined> => new Promise((res, rej) => unary(r, (e, v) => (e ? rej(e) : res(v))));
          const wrong: string[] = [];
          for (let i = 0; i < requests.length; i++) {
            const got = (await call(requests[i]))?.status?.code ?? 0;
            if (got !== set.expected[i]) wrong.push(`request ${i}: code ${got}, expected ${set.expected[i]}`);
          }
          if (wrong.length > 0)
            throw new Error(`${name}: ${wrong.length}/${requests.length} verdicts differ from the model:\n  ${wrong.slice(0, 10).join('\n  ')}`);
        }
        await load(client, requests, o.connections, warmup, server);
        const run = await load(client, requests, o.connections, o.duration, server);
        if (run.errors > 0) throw new Error(`${name}: ${run.errors} calls failed under load; the figures are worthless`);
        return run;
      } catch (err) {
        process.stderr.write(server.output());
        throw err;
      } finally {
        client.close();
        await server.stop();
      }
    };
    const barePort = await freePort();
    const bare = await runOne(
      'bare grpc-js',
      [path.join(__dirname, 'bare-grpc-server.js'), '--host', '127.0.0.1', '--port', String(barePort)],
      {},
      barePort,
      barePort,
      false,
    );
    log(
      `  bare grpc-js (constant OK)   ${fmt(bare.callsPerSec).padStart(8)} calls/s  p50 ${bare.p50.toFixed(2)} ms  p99 ${bare.p99.toFixed(2)} ms  server ${bare.serverCpuUsPerCall.toFixed(1)} µs/call  client cpu ${pct(bare.clientCpu)}`,
    );
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const mixer = await runOne(
      `mixer @${rules} rules`,
      [path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(httpPort)],
      { MIXER_CONFIG_DIR: root, REDIS_URL: '', MIXER_LOG_LEVEL: 'warn', MIXER_GRPC_PORT: String(grpcPort) },
      grpcPort,
      httpPort,
      true,
    );
    const total = Object.values(mixer.codes).reduce((x, y) => x + y, 0);
    for (const [code, share] of Object.entries(set.mix)) {
      const seen = (mixer.codes[Number(code)] ?? 0) / total;
      if (Math.abs(seen - share) > 0.03) throw new Error(`verdict ${code} was ${pct(seen)} of answers under load, expected ${pct(share)}`);
    }
    log(
      `  mixer ext_authz @${rules} rules   ${fmt(mixer.callsPerSec).padStart(8)} calls/s  p50 ${mixer.p50.toFixed(2)} ms  p99 ${mixer.p99.toFixed(2)} ms  server ${mixer.serverCpuUsPerCall.toFixed(1)} µs/call  client cpu ${pct(mixer.clientCpu)}  verdicts ${Object.entries(
        mixer.codes,
      )
        .map(([c, n]) => `${c}:${pct(n / total)}`)
        .join(' ')}`,
    );
    return { bare, mixer };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** An HTTP access-log entry like a ~1 KB report bag: frontend's Envoy calling backend. */
function entry(i: number): Record<string, unknown> {
  return {
    common_properties: {
      downstream_remote_address: { socket_address: { address: '127.0.0.6', port_value: 40000 + (i % 20000) } },
      upstream_remote_address: { socket_address: { address: `10.1.0.${1 + (i % 3)}`, port_value: 8080 } },
      upstream_cluster: `outbound|8080|v${1 + (i % 2)}|backend.default.svc.cluster.local`,
      start_time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
      time_to_last_downstream_tx_byte: { seconds: 0, nanos: 1_000_000 * (1 + (i % 50)) },
      response_flags: i % 10 === 9 ? { upstream_connection_failure: true } : {},
    },
    protocol_version: 'HTTP11',
    request: {
      request_method: i % 5 === 0 ? 'POST' : 'GET',
      scheme: 'http',
      authority: 'backend:8080',
      path: `/api/v1/items/${1000 + (i % 9000)}`,
      user_agent: 'Envoy/1.12.2',
      request_id: `bench-${i}`,
      request_body_bytes: 120,
      request_headers_bytes: 400,
      request_headers: { 'content-type': 'application/json', 'x-b3-traceid': 'a'.repeat(16), 'x-b3-spanid': 'b'.repeat(16), 'x-b3-sampled': '1' },
    },
    response: { response_code: { value: i % 10 === 9 ? 503 : 200 }, response_body_bytes: 880, response_headers_bytes: 200 },
  };
}

const NODE = {
  id: 'sidecar~10.1.0.5~frontend-v1-6b8c9c5d8f-x2x7q.default~default.svc.cluster.local',
  cluster: 'frontend.default',
  metadata: { fields: { LABELS: { structValue: { fields: { app: { stringValue: 'frontend' }, version: { stringValue: 'v1' } } } } } },
};

async function alsPart(o: BenchOptions, log: (s: string) => void): Promise<{ e2e: number; base: number; sent: number; cpuPer1000: number }> {
  const clients = Number(o.flags.clients ?? 4);
  const redis = await startRedis();
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const mixer = await startServer({
    name: 'mixer',
    args: [path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(httpPort)],
    env: {
      REDIS_URL: redis.url,
      ZIPKIN_URL: '',
      MIXER_CONFIG_DIR: path.join(REPO, 'rules'),
      MIXER_LOG_LEVEL: 'warn',
      MIXER_KEY_PREFIX: 'bench:',
      MIXER_GRPC_PORT: String(grpcPort),
    },
    port: httpPort,
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
  });
  try {
    const Als = serviceAt(SERVICES.als);
    const prebuilt = Array.from({ length: 100 }, (_, i) => entry(i));
    let sent = 0;
    const cpu0 = mixer.cpuSeconds();
    const redisCpu0 = cpuSecondsOf(redis.pid);
    const t0 = performance.now();
    const until = t0 + o.duration * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const client = new Als(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
        try {
          await new Promise<void>((resolve, reject) => {
            type Open = (cb: (e: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<unknown>;
            const call = (client as unknown as { StreamAccessLogs: Open }).StreamAccessLogs((e) => (e ? reject(e) : resolve()));
            let n = 0;
            const pump = (): void => {
              while (performance.now() < until) {
                // 100 entries a message, each with its own request id.
                const log_entry = prebuilt.map((e, i) => ({ ...e, request: { ...(e.request as object), request_id: `bench-${c}-${n}-${i}` } }));
                const ok = call.write(n === 0 ? { identifier: { node: NODE, log_name: 'bench' }, http_logs: { log_entry } } : { http_logs: { log_entry } });
                n++;
                sent += log_entry.length;
                if (!ok) return void call.once('drain', pump);
              }
              call.end();
            };
            pump();
          });
        } finally {
          client.close();
        }
      }),
    );
    let counted = 0;
    const deadline = performance.now() + 180_000;
    while ((counted = await countedBags(mixer.url)) < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (counted !== sent) throw new Error(`ALS: ${fmt(sent)} entries acknowledged, ${fmt(counted)} counted within 3 min`);
    const secs = (performance.now() - t0) / 1000;
    const cpuPer1000 = ((mixer.cpuSeconds() - cpu0) / sent) * 1000;
    const redisPer1000 = ((cpuSecondsOf(redis.pid) - redisCpu0) / sent) * 1000;
    const batches = makeBatches(50);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) runs.push(await baseline(redis.url, batches, Math.min(3000, Math.max(200, Math.round(sent / 100)))));
    const base = [...runs].sort((a, b) => a - b)[1];
    const e2e = sent / secs;
    log(
      `  ALS end to end (in /metrics)   ${fmt(e2e).padStart(8)} entries/s  (${fmt(sent)} entries on ${clients} streams; Mixer ${cpuPer1000.toFixed(3)} CPU-s, Redis ${redisPer1000.toFixed(3)} CPU-s per 1,000)`,
    );
    log(`  baseline LPUSH + BRPOP/parse   ${fmt(base).padStart(8)} bags/s     (median of ${runs.map(fmt).join(', ')})`);
    return { e2e, base, sent, cpuPer1000 };
  } catch (err) {
    process.stderr.write(mixer.output());
    throw err;
  } finally {
    await mixer.stop();
    redis.stop();
  }
}

/** Runs the gRPC bench; throws when an answer is wrong or an acknowledged entry is not counted. */
export async function runGrpcBench(o: BenchOptions): Promise<void> {
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  log(
    `grpc bench: ${o.duration} s measured per target, ${o.connections} calls in flight; load average ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cpus`,
  );
  log('(1) ext_authz checks');
  const c = await checkPart(o, log);
  log('(2) Envoy access-log service');
  const a = await alsPart(o, log);
  const checkRatio = c.mixer.callsPerSec / c.bare.callsPerSec;
  const alsRatio = a.e2e / a.base;
  log('ratios');
  log(
    `  ext_authz / bare grpc-js      ${checkRatio.toFixed(3)}x  (target ≥ ${TARGETS.checkRatio}x) ${checkRatio >= TARGETS.checkRatio ? 'ok' : 'BELOW TARGET'}`,
  );
  log(`  ALS / report baseline         ${alsRatio.toFixed(3)}x  (target ≥ ${TARGETS.alsRatio}x) ${alsRatio >= TARGETS.alsRatio ? 'ok' : 'BELOW TARGET'}`);
  log('published figures, for scale');
  for (const p of PUBLISHED) log(`  ${p}`);
  log(`  this run: ext_authz p99 ${c.mixer.p99.toFixed(2)} ms at ${fmt(c.mixer.callsPerSec)} checks/s; ALS ${a.cpuPer1000.toFixed(3)} CPU-s per 1,000 entries`);
  const dir = path.join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const timestamp = new Date().toISOString();
  writeFileSync(
    path.join(dir, `grpc-${timestamp.replace(/[:.]/g, '-')}.json`),
    JSON.stringify(
      { bench: 'grpc', timestamp, options: { duration: o.duration, connections: o.connections }, check: c, als: a, ratios: { checkRatio, alsRatio } },
      null,
      2,
    ),
  );
}
