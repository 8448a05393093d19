import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { startMixer, startWorkerProcess, REPO } from '../support/processes';
import type { MixerProcess, WorkerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { TestRedis } from '../support/redis-server';
import { parsePromText, sumOf } from '../support/prom-text';
import { frontendToBackend } from '../support/traffic';
import { waitFor } from '../support/wait';

/** Bags per report batch and concurrent senders of the load. */
const BATCH = 20;
const SENDERS = 4;
/** A report not answered within this is a hang, even while Redis is away (a deadline per call, not a timing). */
const CALL_DEADLINE_MS = 10_000;
/** Resends of a refused batch once the load is told to stop (Redis is up by then: a few suffice). */
const MAX_RESENDS_AFTER_STOP = 100;

async function scrape(url: string) {
  return parsePromText(await (await fetch(`${url}/metrics`)).text());
}

/** What the load saw: bags answered 202, batches answered 503, answers by status, and any other outcome. */
interface Tally {
  accepted: number;
  refused: number;
  byStatus: Map<number, number>;
  problems: string[];
  /** `accepted` when each 503 was seen, to tell the outages apart. */
  refusedAt: number[];
}

/**
 * Sends report batches from {@link SENDERS} loops until `stop()`: each answer must be 202 (counted) or
 * 503 MIXER_ERR_QUEUE_UNAVAILABLE with Retry-After (refused); anything else, a transport error or a call
 * over the deadline is a problem. Like a sidecar, each batch carries an Idempotency-Key and a refused one
 * is sent again with the same key until it is answered 202 (also after `stop()`, so nothing is left
 * half-sent): a batch whose write reached Redis just before Redis went away is answered 503 (its
 * durability was not confirmed), and its resend is then the same batch, counted once. Paced (a short
 * pause per attempt) to keep the load well below saturation.
 */
function startLoad(url: string): { tally: Tally; stop: () => Promise<void> } {
  const tally: Tally = { accepted: 0, refused: 0, byStatus: new Map(), problems: [], refusedAt: [] };
  let running = true;
  let seed = 1;
  const sender = async (): Promise<void> => {
    // A batch refused last time, sent again (same body, same key) until it is answered 202.
    let resend: { body: string; key: string } | undefined;
    let attemptsAfterStop = 0;
    while (running || (resend !== undefined && attemptsAfterStop++ < MAX_RESENDS_AFTER_STOP)) {
      const batch = resend ?? { body: JSON.stringify({ attributes: frontendToBackend(BATCH, seed++).map((r) => r.bag) }), key: randomUUID() };
      resend = undefined;
      try {
        const r = await fetch(`${url}/v1/report`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': batch.key },
          body: batch.body,
          signal: AbortSignal.timeout(CALL_DEADLINE_MS),
        });
        const answer = (await r.json()) as { accepted?: number; error?: { code: string } };
        tally.byStatus.set(r.status, (tally.byStatus.get(r.status) ?? 0) + 1);
        if (r.status === 202 && answer.accepted === BATCH) tally.accepted += BATCH;
        else if (r.status === 503 && answer.error?.code === 'MIXER_ERR_QUEUE_UNAVAILABLE' && r.headers.get('retry-after')) {
          tally.refused++;
          tally.refusedAt.push(tally.accepted);
          resend = batch;
        } else tally.problems.push(`${r.status} ${JSON.stringify(answer)}`);
      } catch (err) {
        tally.problems.push(`transport: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, resend === undefined ? 10 : 100));
    }
    if (resend !== undefined) tally.problems.push(`a batch still refused after ${MAX_RESENDS_AFTER_STOP} resends once the load stopped`);
  };
  const loops = Array.from({ length: SENDERS }, () => sender());
  return {
    tally,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits until the report queues are empty and `istio_requests_total` holds still, then returns it. */
async function settledTotal(mixer: MixerProcess, want: number): Promise<number> {
  let last = -1;
  let sameSince = Date.now();
  return waitFor(
    `istio_requests_total to reach ${want} and stay`,
    async () => {
      const s = await scrape(mixer.url);
      const total = sumOf(s, 'istio_requests_total');
      const pending = ['waiting', 'active', 'delayed'].reduce((n, state) => n + sumOf(s, 'mixer_queue_depth', { state }), 0);
      if (total !== last || pending > 0) {
        last = total;
        sameSince = Date.now();
        return undefined;
      }
      // Held still with nothing queued: 3 s once the count is reached (anything redelivered late would
      // show by then), 20 s when it is short (so a loss is reported as a wrong count, not a timeout).
      const still = Date.now() - sameSince;
      return (total >= want && still > 3000) || still > 20_000 ? total : undefined;
    },
    120_000,
    250,
  );
}

function configDir(): TempConfigDir {
  const cfg = new TempConfigDir();
  copyFileSync(path.join(REPO, 'rules', 'metrics.yaml'), path.join(cfg.dir, 'metrics.yaml'));
  return cfg;
}

describe('chaos: Redis restarted and workers killed under report load', function () {
  this.timeout(300_000);
  let redis: TestRedis;
  let cfg: TempConfigDir;
  let mixer: MixerProcess | undefined;
  let workers: WorkerProcess[] = [];

  beforeEach(async () => {
    redis = new TestRedis();
    await redis.start();
    cfg = configDir();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && mixer) process.stdout.write(`mixer output (tail):\n${mixer.output().slice(-4000)}\n`);
    await Promise.all([mixer?.stop(), ...workers.map((w) => w.stop())]);
    mixer = undefined;
    workers = [];
    await redis.cleanup();
    cfg.cleanup();
  });

  it('Redis restarted twice: 503 while it is away, and every 202 bag counted exactly once after it returns', async () => {
    mixer = await startMixer({ REDIS_URL: redis.url, MIXER_CONFIG_DIR: cfg.dir, MIXER_REPORT_MAX_BACKOFF_MS: '2000', MIXER_LOG_LEVEL: 'warn' });
    const load = startLoad(mixer.url);
    const outages: Array<{ refused: number; acceptedAfter: number }> = [];
    try {
      for (let round = 0; round < 2; round++) {
        const before = load.tally.accepted;
        await waitFor('reports accepted before the outage', () => load.tally.accepted >= before + 200, 30_000, 20);
        await new Promise((r) => setTimeout(r, 3000)); // 3 s more of accepted load before Redis goes
        const refusedBefore = load.tally.refused;
        await redis.stop();
        await waitFor('reports refused while Redis is away', () => load.tally.refused >= refusedBefore + 20, 30_000, 20);
        await new Promise((r) => setTimeout(r, 2000)); // the outage itself: 2 s more of refused reports
        await redis.start();
        const back = load.tally.accepted;
        await waitFor('reports accepted again after the restart', () => load.tally.accepted >= back + 200, 30_000, 20);
        await new Promise((r) => setTimeout(r, 3000)); // and 3 s more after it is back
        outages.push({ refused: load.tally.refused - refusedBefore, acceptedAfter: load.tally.accepted - back });
      }
    } finally {
      await load.stop();
    }
    const { tally } = load;
    assert.deepEqual(tally.problems, [], 'every answer was a 202 or a 503 with Retry-After');
    const total = await settledTotal(mixer, tally.accepted);
    process.stdout.write(
      `      accepted ${tally.accepted} bags in ${tally.byStatus.get(202)} batches, refused ${tally.refused} batches (${outages.map((o) => o.refused).join(' + ')}), counted ${total}\n`,
    );
    assert.equal(total, tally.accepted, 'istio_requests_total equals the bags answered 202: none lost, none counted twice');
    const s = await scrape(mixer.url);
    assert.equal(sumOf(s, 'mixer_reports_total', { result: 'accepted' }), tally.accepted);
    assert.equal(sumOf(s, 'mixer_dead_letters'), 0);
  });

  it('a worker killed with SIGKILL every 5 s under load: every 202 bag counted exactly once', async () => {
    const env = { REDIS_URL: redis.url, MIXER_CONFIG_DIR: cfg.dir, MIXER_REPORT_MAX_BACKOFF_MS: '2000', MIXER_LOG_LEVEL: 'warn' };
    mixer = await startMixer(env, ['--no-worker']);
    workers = await Promise.all([startWorkerProcess(env), startWorkerProcess(env)]);
    const load = startLoad(mixer.url);
    let kills = 0;
    try {
      await waitFor('the first deliveries', async () => sumOf(await scrape(mixer!.url), 'istio_requests_total') > 0, 30_000, 50);
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 5000));
        const victim = i % workers.length;
        await workers[victim].stop('SIGKILL');
        kills++;
        workers[victim] = await startWorkerProcess(env);
      }
    } finally {
      await load.stop();
    }
    const { tally } = load;
    assert.deepEqual(tally.problems, [], 'every answer was a 202');
    assert.equal(tally.refused, 0, 'Redis stayed up: nothing refused');
    const total = await settledTotal(mixer, tally.accepted);
    process.stdout.write(`      ${kills} workers killed; accepted ${tally.accepted} bags in ${tally.byStatus.get(202)} batches, counted ${total}\n`);
    assert.equal(total, tally.accepted, 'istio_requests_total equals the bags answered 202: none lost, none counted twice');
    assert.equal(sumOf(await scrape(mixer.url), 'mixer_dead_letters'), 0);
  });
});
