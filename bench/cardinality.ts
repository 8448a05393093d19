/**
 * `npm run bench -- cardinality`: the probe of issue 11 against a real `mixer serve` with Redis and
 * the default config. Phases, each measured after its reports are counted:
 *  (0) baseline: 12 reports of 1,000 bags that all share their labels (ordinary traffic);
 *  (1) 12 reports of 1,000 distinct small bags (every bag a new source workload and service);
 *  (2) 3 reports whose bag carries a 100 KB `destination.service.host`.
 * Prints `/metrics` size and scrape time, `GET /v1/graph` size and time (the first call of a new
 * time bucket, so not from the cache), Redis `used_memory` and
 * Mixer's RSS (sampled every 100 ms, max over the phase), each beside the baseline as a ratio.
 * Bounded: every wait has a deadline; Redis and Mixer are stopped at the end.
 */
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startServer } from './load';
import { rssMb, startRedis, startSink } from './report';

const REPO = path.resolve(__dirname, '..', '..');
const BAGS = 1000;

/** A small inbound bag (~200 B) of workload `src` calling service `dst`. */
function bag(src: string, dst: string): Record<string, unknown> {
  return {
    'source.workload.name': src,
    'source.workload.namespace': 'probe',
    'destination.workload.name': `${dst}-v1`,
    'destination.workload.namespace': 'probe',
    'destination.service.host': `${dst}.probe.svc.cluster.local`,
    'destination.service.name': dst,
    'response.code': 200,
    'response.duration': '5ms',
    'context.reporter.kind': 'inbound',
  };
}

interface Figures {
  metricsBytes: number;
  scrapeMs: number;
  graphBytes: number;
  graphMs: number;
  redisBytes: number;
  rssMaxMb: number;
}

/** Runs the probe; it takes no options (its figures are fixed by the issue). */
export async function runCardinalityBench(): Promise<void> {
  const redis = await startRedis();
  const sink = await startSink();
  const port = await freePort();
  const mixer = await startServer({
    name: 'mixer',
    args: [path.join(REPO, 'bin', 'mixer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port)],
    env: { REDIS_URL: redis.url, ZIPKIN_URL: sink.url, MIXER_CONFIG_DIR: path.join(REPO, 'rules'), MIXER_LOG_LEVEL: 'warn', MIXER_KEY_PREFIX: 'probe:' },
    port,
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
  });
  const client = new Redis(redis.url);
  let rssMax = 0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMb(mixer.pid))), 100);
  const post = async (bags: unknown[]): Promise<void> => {
    const r = await fetch(`${mixer.url}/v1/report`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ attributes: bags }),
    });
    if (r.status !== 202) throw new Error(`report answered ${r.status}: ${await r.text()}`);
  };
  /** Requests counted by istio_requests_total, plus those its overflow counter took. */
  const counted = async (): Promise<{ total: number; text: string; ms: number }> => {
    const t0 = performance.now();
    const text = await (await fetch(`${mixer.url}/metrics`)).text();
    const ms = performance.now() - t0;
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('istio_requests_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('mixer_prometheus_series_overflow_total{metric="istio_requests_total"}')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return { total, text, ms };
  };
  const measure = async (expected: number): Promise<Figures> => {
    const deadline = Date.now() + 180_000;
    let c = await counted();
    while (c.total < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      c = await counted();
    }
    if (c.total < expected) throw new Error(`only ${c.total} of ${expected} requests counted after 180 s`);
    c = await counted(); // a scrape of the settled state, timed
    // /v1/graph answers from a cache for the rest of its 10 s bucket: the first call of the next bucket reads afresh.
    await new Promise((r) => setTimeout(r, 10_050 - (Date.now() % 10_000)));
    const g0 = performance.now();
    const graph = await (await fetch(`${mixer.url}/v1/graph?window=5m`)).text();
    const graphMs = performance.now() - g0;
    const info = await client.info('memory');
    const redisBytes = Number(/used_memory:(\d+)/.exec(info)![1]);
    const f = { metricsBytes: Buffer.byteLength(c.text), scrapeMs: c.ms, graphBytes: Buffer.byteLength(graph), graphMs, redisBytes, rssMaxMb: rssMax };
    rssMax = 0;
    return f;
  };
  try {
    let expected = 0;
    for (let r = 0; r < 12; r++) await post(Array.from({ length: BAGS }, () => bag('frontend-v1', 'backend')));
    const base = await measure((expected += 12 * BAGS));
    for (let r = 0; r < 12; r++) await post(Array.from({ length: BAGS }, (_, i) => bag(`client-${r}-${i}`, `svc-${r}-${i}`)));
    const distinct = await measure((expected += 12 * BAGS));
    const host = 'h'.repeat(100_000);
    for (let r = 0; r < 3; r++) await post([{ ...bag('frontend-v1', `big-${r}`), 'destination.service.host': `${host}${r}` }]);
    const big = await measure((expected += 3));
    const mb = (n: number): string => (n / 1e6).toFixed(2);
    const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    const row = (name: string, f: Figures): string =>
      `  ${name.padEnd(34)} /metrics ${mb(f.metricsBytes).padStart(6)} MB (${x(f.metricsBytes, base.metricsBytes)}) in ${f.scrapeMs.toFixed(0).padStart(5)} ms | ` +
      `/v1/graph ${mb(f.graphBytes).padStart(5)} MB in ${f.graphMs.toFixed(0).padStart(4)} ms | Redis ${mb(f.redisBytes).padStart(6)} MB (${x(f.redisBytes, base.redisBytes)}) | RSS max ${f.rssMaxMb.toFixed(0)} MB`;
    process.stdout.write(
      [
        'cardinality probe (issue 11): default config, one mixer serve, Redis; ratios against the baseline phase',
        row('(0) baseline: 12 × 1,000 same bags', base),
        row('(1) 12 × 1,000 distinct small bags', distinct),
        row('(2) 3 × 100 KB destination.service.host', big),
        `  targets: /metrics < 20 MB, RSS < 300 MB (measured: ${mb(Math.max(distinct.metricsBytes, big.metricsBytes))} MB, ${Math.max(distinct.rssMaxMb, big.rssMaxMb).toFixed(0)} MB)`,
        '',
      ].join('\n'),
    );
  } finally {
    clearInterval(sampler);
    client.disconnect();
    await mixer.stop();
    sink.close();
    redis.stop();
  }
}
