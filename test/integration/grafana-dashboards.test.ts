import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { startMixer, startWorkerProcess, postJson, REPO } from '../support/processes';
import type { MixerProcess, WorkerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { frontendToBackend } from '../support/traffic';
import { waitFor } from '../support/wait';
import { findExecutable, finiteSamples, promQuery, startPrometheus, testScrapeConfig } from '../support/prometheus';
import type { PrometheusProcess } from '../support/prometheus';
import {
  allPanels,
  GRAFANA_BUILTINS,
  labelValuesAsPromQL,
  panelQueries,
  readDashboards,
  substituteVariables,
  variableQuery,
  variablesIn,
} from '../support/grafana';
import type { GrafanaDashboard } from '../support/grafana';
import { deleteKeys } from '../support/redis-keys';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DASHBOARDS = path.join(REPO, 'grafana', 'dashboards');
const SCRAPE_CONFIG = path.join(REPO, 'deploy', 'prometheus', 'prometheus.yml');
const DATASOURCE_UID = 'prometheus';
const EXPECTED_DASHBOARDS = ['mesh.json', 'mixer.json', 'service.json', 'workload.json'];

/** What the test substitutes for each template variable (and Grafana's built-ins). */
const VALUES: Record<string, string> = {
  namespace: 'default',
  service: 'backend.default.svc.cluster.local',
  workload: 'backend-v1',
  instance: '.*', // the Mixer dashboard's "All"
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '5m',
  __range_s: '300',
  __range_ms: '300000',
};

function dashboards(): Array<{ file: string; dashboard: GrafanaDashboard }> {
  const files = readDashboards(DASHBOARDS);
  for (const f of files) assert.equal(f.error, undefined, `${f.file} is not valid JSON: ${f.error}`);
  return files.map((f) => ({ file: f.file, dashboard: f.dashboard! }));
}

/** One round of mesh traffic: frontend → backend (both sidecars report), backend-v1 → db (both report). */
function meshTraffic(round: number): Array<Record<string, unknown>> {
  const inbound = frontendToBackend(20, round + 1).map((r) => r.bag);
  const outbound = inbound.map((bag) => ({ ...bag, 'context.reporter.kind': 'outbound' }));
  const toDb: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now() - 50;
    const bag: Record<string, unknown> = {
      'source.labels': { app: 'backend', version: 'v1' },
      'source.workload.name': 'backend-v1',
      'source.workload.namespace': 'default',
      'destination.labels': { app: 'db', version: 'v1' },
      'destination.workload.name': 'db-v1',
      'destination.workload.namespace': 'default',
      'destination.service.host': 'db.default.svc.cluster.local',
      'destination.service.name': 'db',
      'destination.service.namespace': 'default',
      'request.method': 'POST',
      'request.path': '/query',
      'request.time': new Date(t0).toISOString(),
      'response.time': new Date(t0 + 4 + i).toISOString(),
      'response.code': (round + i) % 10 === 0 ? 500 : 200,
      'response.duration': `${4 + i}ms`,
      'request.size': 300,
      'response.size': 2000 + i,
      'context.protocol': 'http',
      'connection.mtls': true,
    };
    toDb.push({ ...bag, 'context.reporter.kind': 'outbound' }, { ...bag, 'context.reporter.kind': 'inbound' });
  }
  return [...inbound, ...outbound, ...toDb];
}

/** A failure a later round may not see: Mixer answering 503 (queue under pressure) or a dropped connection. */
class TransientTrafficError extends Error {}

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  try {
    return await postJson(url, body);
  } catch (err) {
    throw new TransientTrafficError(`POST ${url}: ${(err as Error).message}`);
  }
}

/** One round: a report batch, two checks, and one bad report (counted as rejected). */
async function trafficRound(mixer: MixerProcess, round: number): Promise<void> {
  const r = await post(`${mixer.url}/v1/report`, { attributes: meshTraffic(round) });
  if (r.status === 503) throw new TransientTrafficError(`report answered 503: ${JSON.stringify(r.body)}`);
  assert.equal(r.status, 202, `report answered ${r.status}: ${JSON.stringify(r.body)}`);
  for (const app of ['frontend', 'backend']) {
    const c = await post(`${mixer.url}/v1/check`, {
      attributes: { 'source.labels': { app }, 'destination.service.name': app === 'frontend' ? 'backend' : 'db' },
    });
    assert.equal(c.status, 200, `check answered ${c.status}: ${JSON.stringify(c.body)}`);
  }
  const bad = await post(`${mixer.url}/v1/report`, { attributes: [{ 'response.code': 'not a number' }] });
  assert.equal(bad.status, 400, 'a bad bag is rejected (mixer_reports_total{result="rejected"})');
}

/**
 * Sends a round of traffic every 200 ms until stopped (bounded: at most 10 minutes). Transient failures
 * are counted and the loop goes on; anything else ends it, and `failure()` returns it.
 */
function trafficLoop(mixer: MixerProcess): { stop(): Promise<void>; failure(): Error | undefined; describe(): string } {
  let stopped = false;
  let rounds = 0;
  let transient = 0;
  let lastTransient = '';
  let failure: Error | undefined;
  const until = Date.now() + 10 * 60_000;
  const done = (async () => {
    while (!stopped && Date.now() < until) {
      try {
        await trafficRound(mixer, rounds);
        rounds++;
      } catch (err) {
        if (!(err instanceof TransientTrafficError)) throw err;
        transient++;
        lastTransient = err.message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })().catch((err: Error) => {
    failure = err;
  });
  return {
    failure: () => failure,
    describe: () =>
      `traffic: ${rounds} rounds, ${transient} transient failures${lastTransient ? ` (last: ${lastTransient})` : ''}${failure ? `, stopped by: ${failure.message}` : stopped ? ', stopped' : ', running'}`,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** One line per scrape target, for failure messages: is it up, how many scrapes worked lately, how slow. */
async function scrapeHealth(url: string): Promise<string> {
  const [up, ok, slowest] = await Promise.all([
    promQuery(url, 'up'),
    promQuery(url, 'sum_over_time(up[1m])'),
    promQuery(url, 'max_over_time(scrape_duration_seconds[1m])'),
  ]);
  const key = (m: Record<string, string>) => `${m.job} ${m.instance}`;
  const value = (a: typeof up, k: string) => a.samples.find((s) => key(s.metric) === k)?.value[1] ?? '-';
  return up.samples.map((s) => `    ${key(s.metric)}: ${s.value[1]}, ${value(ok, key(s.metric))}, ${value(slowest, key(s.metric))}`).join('\n');
}

describe('Grafana dashboards', () => {
  describe('files', () => {
    it('are the four dashboards, valid JSON, with unique panel ids, the fixed datasource, and every variable a query uses defined', () => {
      const all = dashboards();
      assert.deepEqual(
        all.map((d) => d.file),
        EXPECTED_DASHBOARDS,
      );
      const uids = new Set<string>();
      for (const { file, dashboard: d } of all) {
        assert.ok(d.uid && !uids.has(d.uid), `${file}: a uid of its own`);
        uids.add(d.uid);
        assert.ok(d.schemaVersion >= 36, `${file}: schemaVersion ${d.schemaVersion}`);
        const ids = new Set<number>();
        const vars = d.templating?.list ?? [];
        const defined = new Set(vars.map((v) => v.name));
        for (const p of allPanels(d)) {
          assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `${file}: panel "${p.title}" has a unique id (${p.id})`);
          ids.add(p.id);
          if (p.type === 'row') continue;
          assert.ok(['timeseries', 'stat', 'table'].includes(p.type), `${file}: panel ${p.id} "${p.title}" is a ${p.type}`);
          assert.equal(p.datasource?.uid, DATASOURCE_UID, `${file}: panel ${p.id} "${p.title}" uses datasource uid ${DATASOURCE_UID}`);
          assert.ok((p.targets ?? []).length > 0, `${file}: panel ${p.id} "${p.title}" has targets`);
          const refIds = new Set<string>();
          for (const t of p.targets ?? []) {
            assert.ok(!refIds.has(t.refId), `${file}: panel ${p.id} "${p.title}": refId ${t.refId} is unique`);
            refIds.add(t.refId);
            assert.equal(t.datasource?.uid ?? DATASOURCE_UID, DATASOURCE_UID, `${file}: panel ${p.id} target ${t.refId} datasource`);
            assert.ok(t.expr && t.expr.trim() !== '', `${file}: panel ${p.id} "${p.title}" target ${t.refId} has an expression`);
            assert.doesNotMatch(t.expr, /istio_tcp_/, `${file}: panel ${p.id} "${p.title}": HTTP metrics only`);
          }
        }
        const queries = [...panelQueries(file, d), ...vars.map((v) => ({ name: `${file} › variable $${v.name}`, expr: variableQuery(v) ?? '' }))];
        for (const q of queries) {
          for (const name of variablesIn(q.expr)) {
            assert.ok(defined.has(name) || GRAFANA_BUILTINS.has(name), `${q.name}: uses $${name}, which the dashboard does not define`);
            assert.ok(VALUES[name] !== undefined, `${q.name}: the test has no value for $${name}`);
          }
        }
        for (const v of vars) {
          assert.equal(v.type, 'query', `${file}: variable $${v.name} is a query variable`);
          assert.ok(labelValuesAsPromQL(variableQuery(v) ?? ''), `${file}: variable $${v.name} uses label_values(...)`);
        }
      }
    });

    it('the provisioning points Grafana at the dashboards and at Prometheus by the uid the panels use', () => {
      const ds = parse(readFileSync(path.join(REPO, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8'));
      const prom = ds.datasources.find((d: { type: string }) => d.type === 'prometheus');
      assert.equal(prom.uid, DATASOURCE_UID);
      assert.equal(prom.url, 'http://prometheus:9090');
      const scrapeInterval = parse(readFileSync(SCRAPE_CONFIG, 'utf8')).global.scrape_interval;
      assert.equal(prom.jsonData?.timeInterval, scrapeInterval, 'Grafana derives $__rate_interval from the scrape interval it is told');
      const provider = parse(readFileSync(path.join(REPO, 'grafana', 'provisioning', 'dashboards', 'mixer.yaml'), 'utf8')).providers[0];
      assert.equal(provider.type, 'file');
      assert.equal(provider.options.path, '/var/lib/grafana/dashboards');
    });

    it('the compose scrape config is valid and scrapes mixer:9091 and every worker replica on 9093', function () {
      const promtool = findExecutable('promtool');
      if (promtool) {
        const r = spawnSync(promtool, ['check', 'config', SCRAPE_CONFIG], { encoding: 'utf8' });
        assert.equal(r.status, 0, `promtool check config:\n${r.stdout}${r.stderr}`);
      }
      const cfg = parse(readFileSync(SCRAPE_CONFIG, 'utf8'));
      assert.equal(cfg.global.scrape_interval, '5s');
      const job = (name: string) => cfg.scrape_configs.find((j: { job_name: string }) => j.job_name === name);
      assert.deepEqual(job('mixer').static_configs, [{ targets: ['mixer:9091'] }]);
      assert.deepEqual(
        job('mixer-worker').dns_sd_configs.map((d: Record<string, unknown>) => [d.names, d.type, d.port]),
        [[['worker'], 'A', 9093]],
      );
    });
  });

  describe('every query against a real Prometheus scraping a running Mixer', function () {
    this.timeout(240_000);
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    let cfg: TempConfigDir | undefined;
    let zipkin: HttpSink | undefined;
    let mixer: MixerProcess | undefined;
    let worker: WorkerProcess | undefined;
    let prometheus: PrometheusProcess | undefined;
    let traffic: ReturnType<typeof trafficLoop> | undefined;

    before(async function () {
      const bin = findExecutable('prometheus', 'PROMETHEUS_BIN');
      assert.ok(bin, 'prometheus is not installed: `apt-get install prometheus` (CI: .ci/run installs it) or set PROMETHEUS_BIN');
      cfg = new TempConfigDir(false);
      cpSync(path.join(REPO, 'rules'), cfg.dir, { recursive: true });
      // Zipkin answers 503: the zipkin handler fails, so retries, dispatch errors and dead letters have data.
      zipkin = new HttpSink();
      zipkin.status = 503;
      await zipkin.start();
      const env = {
        REDIS_URL,
        MIXER_KEY_PREFIX: prefix,
        MIXER_CONFIG_DIR: cfg.dir,
        ZIPKIN_URL: zipkin.url,
        MIXER_REPORT_ATTEMPTS: '2',
        MIXER_REPORT_BACKOFF_MS: '50',
        MIXER_REPORT_MAX_BACKOFF_MS: '200',
      };
      mixer = await startMixer(env, ['--no-worker']);
      worker = await startWorkerProcess(env);
      await redis.connect();
      traffic = trafficLoop(mixer);

      // A rejected reload, then a good one (back to the same content: the same generation), so the
      // reload panels have both results.
      const status = async () => (await (await fetch(`${mixer!.url}/v1/config/status`)).json()) as { generation: number; lastReload?: { ok: boolean } };
      cfg.write(
        'zz-broken.yaml',
        'apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: broken, namespace: default}\nspec:\n  actions:\n    - {handler: nowhere, instances: [nothing]}\n',
      );
      await waitFor('the broken file to be rejected', async () => (await status()).lastReload?.ok === false, 15_000, 100);
      cfg.remove('zz-broken.yaml');
      await waitFor('a good reload', async () => (await status()).lastReload?.ok === true, 15_000, 100);

      const scrape = testScrapeConfig(readFileSync(SCRAPE_CONFIG, 'utf8'), {
        mixer: new URL(mixer.url).host,
        'mixer-worker': new URL(worker.metricsUrl).host,
      });
      prometheus = await startPrometheus(bin, scrape);
      // Both jobs up, with enough samples in the last minute for rate() over every series.
      await waitFor(
        'Prometheus to scrape both jobs at least 5 times',
        async () => {
          const a = await promQuery(prometheus!.url, 'count_over_time(up{job=~"mixer|mixer-worker"}[1m]) and on (job, instance) (up == 1)');
          const jobs = new Map(a.samples.map((s) => [s.metric.job, Number(s.value[1])]));
          return jobs.size === 2 && [...jobs.values()].every((n) => n >= 5);
        },
        60_000,
        250,
      );
      await waitFor(
        'istio_requests_total and dead letters to be scraped twice',
        async () => {
          const a = await promQuery(
            prometheus!.url,
            'min(count_over_time(istio_requests_total[1m])) >= 2 and on () min(count_over_time(mixer_dead_letters[1m])) >= 2',
          );
          return a.samples.length > 0;
        },
        60_000,
        250,
      );
    });

    after(async () => {
      await traffic?.stop();
      await prometheus?.stop();
      await Promise.all([mixer?.stop(), worker?.stop(), zipkin?.stop()]);
      cfg?.cleanup();
      if (redis.status === 'ready') {
        await deleteKeys(redis, prefix);
      }
      redis.disconnect();
    });

    it('every template variable query lists the value the test substitutes', async () => {
      const failures: string[] = [];
      let verified = 0;
      for (const { file, dashboard: d } of dashboards()) {
        for (const v of d.templating?.list ?? []) {
          const lv = labelValuesAsPromQL(substituteVariables(variableQuery(v)!, VALUES))!;
          const a = await promQuery(prometheus!.url, lv.expr);
          const values = a.samples.map((s) => s.metric[lv.label]);
          const want = v.includeAll && v.allValue === VALUES[v.name] ? undefined : VALUES[v.name];
          if (a.error) failures.push(`${file} › variable $${v.name}: ${a.error}\n    ${lv.expr}`);
          else if (values.length === 0) failures.push(`${file} › variable $${v.name}: no values\n    ${lv.expr}`);
          else if (want !== undefined && !values.includes(want))
            failures.push(`${file} › variable $${v.name}: ${JSON.stringify(values)} lacks ${want}\n    ${lv.expr}`);
          else verified++;
        }
      }
      assert.deepEqual(failures, [], `variable queries:\n${failures.join('\n')}`);
      assert.ok(verified >= 5, `${verified} variable queries verified`);
    });

    it('every target of every panel is valid PromQL and returns data', async () => {
      const queries = dashboards().flatMap(({ file, dashboard }) => panelQueries(file, dashboard));
      const pending = new Map(queries.map((q) => [q.name, { expr: substituteVariables(q.expr, VALUES), why: '' }]));
      // Series appear at different times (a handler's first retry, a dead letter): retry until a deadline.
      const deadline = Date.now() + 60_000;
      for (;;) {
        for (const [name, q] of pending) {
          const a = await promQuery(prometheus!.url, q.expr);
          if (a.error) q.why = a.error;
          else if (a.samples.length === 0) q.why = 'no data (empty result)';
          else if (finiteSamples(a).length === 0) q.why = `only NaN/Inf values: ${JSON.stringify(a.samples.slice(0, 3))}`;
          else pending.delete(name);
        }
        if (pending.size === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.equal(traffic!.failure(), undefined, `traffic kept flowing during the test (${traffic!.describe()})`);
      const failures = [...pending].map(([name, q]) => `${name}: ${q.why}\n    ${q.expr}`);
      if (failures.length > 0) {
        failures.push(traffic!.describe());
        for (const [name, p] of [
          ['mixer serve', mixer!],
          ['mixer worker', worker!],
        ] as const) {
          const exited = p.child.exitCode ?? p.child.signalCode;
          failures.push(`${name}: ${exited === null ? 'running' : `exited (${exited})`}; last output:\n${p.output().split('\n').slice(-8).join('\n')}`);
        }
        failures.push(`scrapes (job instance: up now, successful scrapes in the last minute, slowest scrape s):\n${await scrapeHealth(prometheus!.url)}`);
      }
      assert.deepEqual(failures, [], `${pending.size} of ${queries.length} panel queries failed:\n${failures.join('\n')}`);
      assert.ok(queries.length >= 90, `${queries.length} panel queries verified`);
    });
  });
});
