import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { startMixer, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { parsePromText, sumOf } from '../support/prom-text';
import { ask, infoFields, startRedisCluster, startRedisSentinel } from '../support/redis-topology';
import type { RedisCluster, RedisSentinelSet } from '../support/redis-topology';
import { batches, frontendToBackend } from '../support/traffic';
import type { GeneratedReport } from '../support/traffic';
import { waitFor } from '../support/wait';

const BAGS = 20_000;
const BATCH = 100;
const SENDERS = 4;
/** The kill comes when this many bags have been answered 202. */
const KILL_AFTER = 6_000;
/** A sender gives a batch up after this long answered 503 (the failover takes a few seconds)... */
const GIVE_UP_MS = 30_000;
/** ...and retries nothing once the whole send has taken this long (the test stays bounded when Redis never comes back). */
const SEND_DEADLINE_MS = 90_000;
/** After the topology says the new primary serves, Mixer's connections may take this long to follow (slot refresh, reconnect backoff). */
const FOLLOW_MS = 5_000;

/** A quota every check asks for, far above the test's rate: a check is denied only when Redis cannot answer. */
const QUOTA = `apiVersion: mixer/v1
kind: Handler
metadata: {name: failover-quota}
spec:
  adapter: redisquota
  params:
    quotas:
      - name: failover-requests
        maxAmount: 1000000
        validDuration: 1s
        rateLimitAlgorithm: FIXED_WINDOW
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: failover-requests}
spec:
  template: quota
  params:
    dimensions:
      source: source.labels["app"] | "unknown"
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: quota-everyone}
spec:
  actions:
    - {handler: failover-quota, instances: [failover-requests]}
`;

interface SendTally {
  /** Bags answered 202 (a retried batch once, for the 202 that ended it). */
  accepted: GeneratedReport[];
  /** Bags of batches given up after 503s for GIVE_UP_MS (answered 503, not retried further). */
  givenUp: number;
  /** 503 answers that were retried. */
  retried503: number;
  /** Span ids of batches answered 503 at least once before their 202. */
  retriedSpans: Set<string>;
  /** Answers other than 202 and 503, and transport errors: none is expected. */
  other: string[];
}

/** Sends `reports` in batches (each with its Idempotency-Key) from SENDERS concurrent senders; a 503 is retried every 200 ms for up to GIVE_UP_MS (and SEND_DEADLINE_MS in all). */
async function sendAll(url: string, reports: GeneratedReport[], onAccepted: (n: number) => void): Promise<SendTally> {
  const queue = batches(reports, BATCH);
  const tally: SendTally = { accepted: [], givenUp: 0, retried503: 0, retriedSpans: new Set(), other: [] };
  let next = 0;
  const deadline = Date.now() + SEND_DEADLINE_MS;
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      while (next < queue.length) {
        const batch = queue[next++];
        const body = JSON.stringify({ attributes: batch.map((r) => r.bag) });
        // One key per batch, the same on every retry: a batch answered 503 after it was in fact queued is delivered once.
        const key = randomUUID();
        const first = Date.now();
        for (let attempts = 0; ; attempts++) {
          let status: number;
          try {
            const r = await fetch(`${url}/v1/report`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body });
            await r.arrayBuffer();
            status = r.status;
          } catch (err) {
            tally.other.push(`transport: ${(err as Error).message}`);
            break;
          }
          if (status === 202) {
            if (attempts > 0) for (const r of batch) tally.retriedSpans.add(r.spanId);
            tally.accepted.push(...batch);
            onAccepted(tally.accepted.length);
            break;
          }
          if (status !== 503) {
            tally.other.push(`HTTP ${status}`);
            break;
          }
          if (Date.now() - first > GIVE_UP_MS || Date.now() > deadline) {
            tally.givenUp += batch.length;
            break;
          }
          tally.retried503++;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }),
  );
  return tally;
}

interface CheckProbe {
  /** When the check was sent, and when its answer (or error) came back, ms. */
  t: number;
  end: number;
  /** HTTP 200 with a status. */
  answered: boolean;
  /** The quota was granted (Redis answered for it). */
  granted: boolean;
  detail: string;
}

/** Checks every 50 ms until `stop()`; every answer recorded. */
function checkContinuously(url: string): { probes: CheckProbe[]; stop: () => Promise<void> } {
  const probes: CheckProbe[] = [];
  let running = true;
  const body = JSON.stringify({ attributes: { 'source.labels': { app: 'frontend' }, 'destination.service.name': 'backend' } });
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      try {
        const r = await fetch(`${url}/v1/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
        const text = await r.text();
        const parsed = r.status === 200 ? (JSON.parse(text) as { status: { code: number }; quotas?: Record<string, { grantedAmount: number }> }) : undefined;
        probes.push({
          t,
          end: Date.now(),
          answered: r.status === 200 && parsed !== undefined,
          granted: parsed?.quotas?.['failover-requests']?.grantedAmount === 1,
          detail: `HTTP ${r.status} ${text.slice(0, 200)}`,
        });
      } catch (err) {
        probes.push({ t, end: Date.now(), answered: false, granted: false, detail: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    probes,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

async function scrape(url: string) {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

/** The default rules plus the quota above, in a temp config dir. */
function configDir(): TempConfigDir {
  const cfg = new TempConfigDir(false);
  const rules = path.join(REPO, 'rules');
  for (const f of readdirSync(rules)) if (f.endsWith('.yaml')) cfg.write(f, readFileSync(path.join(rules, f), 'utf8'));
  cfg.write('quota.yaml', QUOTA);
  return cfg;
}

interface Outcome {
  tally: SendTally;
  probes: CheckProbe[];
  window: { from: number; to: number };
  counted: number;
  /** Label sets whose count differs from the bags accepted with them. */
  mismatches: string[];
  unreplicated: number;
}

/**
 * Runs the story against `env`: 20,000 bags from concurrent senders and a check every 50 ms, `kill()`
 * once KILL_AFTER bags are accepted; then waits until /metrics counts every accepted bag.
 */
async function underLoad(mixer: MixerProcess, kill: () => Promise<unknown>): Promise<Outcome> {
  const reports = frontendToBackend(BAGS, 11);
  const checks = checkContinuously(mixer.url);
  let reached!: () => void;
  const killPoint = new Promise<void>((r) => (reached = r));
  const sending = sendAll(mixer.url, reports, (n) => n >= KILL_AFTER && reached());
  const window = { from: 0, to: 0 };
  const failover = killPoint.then(async () => {
    window.from = Date.now();
    await kill();
    window.to = Date.now() + FOLLOW_MS;
  });
  const tally = await sending;
  // Senders may all finish (or give up) before the kill point only if nearly everything failed.
  reached();
  await failover;
  await new Promise((r) => setTimeout(r, Math.max(0, window.to - Date.now())));
  await checks.stop();
  const want = tally.accepted.length;
  await waitFor(
    `every accepted bag (${want}) counted in /metrics`,
    async () => {
      const s = await scrape(mixer.url);
      return sumOf(s, 'istio_requests_total') >= want ? s : undefined;
    },
    90_000,
    250,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}; counted ${sumOf(await scrape(mixer.url), 'istio_requests_total')}`);
  });
  // Late duplicates (a batch applied twice after the failover) would show up a little later.
  await new Promise((r) => setTimeout(r, 2000));
  const final = await scrape(mixer.url);
  const mismatches: string[] = [];
  for (const version of ['v1', 'v2'] as const) {
    for (const code of [200, 404, 503]) {
      const expected = tally.accepted.filter((r) => r.version === version && r.code === code).length;
      const got = sumOf(final, 'istio_requests_total', { destination_version: version, response_code: String(code) });
      if (got !== expected) mismatches.push(`${version} ${code}: counted ${got}, accepted ${expected}`);
    }
  }
  return {
    tally,
    probes: checks.probes,
    window,
    counted: sumOf(final, 'istio_requests_total'),
    mismatches,
    unreplicated: sumOf(final, 'mixer_redis_unreplicated_writes_total'),
  };
}

/** The assertions shared by both topologies, and one line of figures for the log. */
function judge(what: string, o: Outcome, total: number, spans: unknown[]): void {
  const { tally, probes, window } = o;
  // Where extra counts come from: spans delivered twice to the Zipkin sink belong to batches applied
  // twice; say whether those batches had been answered 503 (and retried) before their 202.
  const seen = new Map<string, number>();
  for (const sp of spans as Array<{ id: string }>) seen.set(sp.id, (seen.get(sp.id) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const twiceRetried = twice.filter((id) => tally.retriedSpans.has(id)).length;
  const unanswered = probes.filter((p) => !p.answered);
  // A check is inside the window when it was in flight at any time of it: one sent just before the kill
  // and answered after it met the dying primary (seen: sent 3 ms before, refused).
  const inside = (p: CheckProbe): boolean => p.end >= window.from && p.t <= window.to;
  const ungrantedOutside = probes.filter((p) => p.answered && !p.granted && !inside(p));
  const ungrantedInside = probes.filter((p) => p.answered && !p.granted && inside(p));
  console.log(
    `      ${what}: ${tally.accepted.length} bags answered 202 and counted ${o.counted}; ${tally.retried503} 503s retried, ` +
      `${tally.givenUp} bags given up; checks: ${probes.length} sent, ${unanswered.length} unanswered, quota not granted ${ungrantedInside.length} ` +
      `inside the failover window (${window.to - window.from} ms), ${ungrantedOutside.length} outside; unreplicated writes ${o.unreplicated}; ` +
      `spans at the Zipkin sink twice: ${twice.length} (${twiceRetried} of them from batches answered 503 before their 202)`,
  );
  assert.deepEqual(tally.other, [], 'every report answered 202 or 503');
  assert.equal(tally.accepted.length + tally.givenUp, total, 'every bag accounted for');
  assert.ok(tally.accepted.length >= total / 2, `most bags accepted (${tally.accepted.length})`);
  assert.equal(o.counted, tally.accepted.length, 'every bag answered 202 counted exactly once');
  assert.deepEqual(o.mismatches, [], 'counted exactly per label set');
  assert.deepEqual(
    unanswered.map((p) => p.detail),
    [],
    'check answers throughout',
  );
  assert.deepEqual(
    ungrantedOutside.map((p) => `${new Date(p.t).toISOString()} (${p.t - window.from} ms after the kill) ${p.detail}`),
    [],
    // When this fails, the timeline tells a late outage from a slow recovery.
    `quota granted outside the failover window (the kill at 0 ms, the window ends at ${window.to - window.from} ms; ` +
      `ungranted inside from ${(ungrantedInside[0]?.t ?? window.from) - window.from} to ${(ungrantedInside.at(-1)?.t ?? window.from) - window.from} ms)`,
  );
}

describe('Redis failover under report load @redis', function () {
  this.timeout(300_000);
  let sink: HttpSink;
  let cfg: TempConfigDir;
  let mixer: MixerProcess | undefined;
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  const env = (redisEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    ...redisEnv,
    MIXER_KEY_PREFIX: prefix,
    ZIPKIN_URL: sink.url,
    MIXER_CONFIG_DIR: cfg.dir,
    MIXER_REPORT_MAX_BACKOFF_MS: '2000',
    MIXER_LOG_LEVEL: 'warn',
  });

  beforeEach(async () => {
    sink = new HttpSink();
    await sink.start();
    cfg = configDir();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && mixer) {
      const log = path.join(os.tmpdir(), `mixer-failover-${mixer.pid}.log`);
      writeFileSync(log, mixer.output());
      console.log(`      Mixer's output: ${log}`);
    }
    await mixer?.stop();
    mixer = undefined;
    await sink.stop();
    cfg.cleanup();
  });

  describe('Redis Cluster, 3 primaries + 3 replicas @redis', () => {
    let cluster: RedisCluster | undefined;
    before(async () => {
      cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1 });
    });
    after(async () => {
      await cluster?.stop();
    });

    it('an idle Mixer re-reads the slot map sparingly: BullMQ workers (a cluster connection each) on a long timer, few new connections a second', async () => {
      const c = cluster!;
      mixer = await startMixer(env(c.env));
      const opened = async (): Promise<number> => {
        let n = 0;
        for (const node of c.nodes) n += Number(infoFields(String(await ask(node.port, 'INFO', 'stats'))).total_connections_received);
        return n;
      };
      // Every slot-map read opens a connection to a node; at 2 s for each of the ~20 cluster connections it was 10 a second.
      await new Promise((r) => setTimeout(r, 2_000));
      const before = await opened();
      const windowS = 10;
      await new Promise((r) => setTimeout(r, windowS * 1000));
      const perSecond = ((await opened()) - before - c.nodes.length) / windowS;
      assert.ok(perSecond < 5, `an idle Mixer opened ${perSecond.toFixed(1)} connections a second across the cluster's ${c.nodes.length} nodes`);
      assert.equal((await fetch(`${mixer.url}/readyz`)).status, 200);
    });

    it('a primary holding queue shards is killed mid-stream: every bag answered 202 is counted once, and checks answer throughout', async () => {
      const c = cluster!;
      mixer = await startMixer(env(c.env));
      const m = mixer;
      let victim = '';
      const o = await underLoad(m, async () => {
        // The primary with the most of Mixer's keys now (queue shards, stored batches, metric state).
        const counts = await Promise.all(
          (await c.primaries()).map(async (node) => {
            const r = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true });
            await r.connect();
            let n = 0;
            let shards = 0;
            let cursor = '0';
            do {
              const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
              cursor = next;
              n += keys.length;
              shards += keys.filter((k) => k.startsWith(`${prefix}{q`)).length;
            } while (cursor !== '0');
            r.disconnect();
            return { node, n, shards };
          }),
        );
        const target = counts.filter((x) => x.shards > 0).sort((a, b) => b.n - a.n)[0];
        assert.ok(target, `a primary holds queue shard keys: ${JSON.stringify(counts.map((x) => [x.node.port, x.n, x.shards]))}`);
        victim = `${target.node.address} (${target.n} keys, ${target.shards} of them queue-shard keys)`;
        const { promoted } = await c.killPrimaryHolding(await firstSlotOf(c, target.node.port));
        victim += ` → ${promoted.address} promoted`;
      });
      console.log(`      killed ${victim}`);
      judge('cluster', o, BAGS, sink.received);
      assert.equal((await fetch(`${m.url}/readyz`)).status, 200, 'Mixer ready after the failover');
    });
  });

  describe('Sentinel, a primary + 1 replica, 3 Sentinels @redis', () => {
    let set: RedisSentinelSet | undefined;
    before(async () => {
      set = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    });
    after(async () => {
      await set?.stop();
    });

    it('the primary is killed mid-stream: every bag answered 202 is counted once, and checks answer throughout', async () => {
      const s = set!;
      mixer = await startMixer(env(s.env));
      const m = mixer;
      let victim = '';
      const o = await underLoad(m, async () => {
        const { killed, promoted } = await s.killPrimary();
        victim = `${killed.address} → ${promoted.address} promoted`;
      });
      console.log(`      killed ${victim}`);
      judge('sentinel', o, BAGS, sink.received);
      assert.equal((await fetch(`${m.url}/readyz`)).status, 200, 'Mixer ready after the failover');
    });
  });
});

/** A slot owned by the primary on `port` (from CLUSTER NODES of that node). */
async function firstSlotOf(c: RedisCluster, port: number): Promise<number> {
  const node = c.nodes.find((n) => n.port === port)!;
  const r = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true });
  await r.connect();
  try {
    const text = String(await r.call('CLUSTER', 'NODES'));
    const mine = text.split('\n').find((l) => l.includes('myself'));
    const range = mine?.split(' ').slice(8)[0];
    if (!range) throw new Error(`${node.address} owns no slot`);
    return Number(range.split('-')[0]);
  } finally {
    r.disconnect();
  }
}
