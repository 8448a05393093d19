import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { readmeSettings, servedPaths } from '../../support/repo-facts';
import { findRepoRoot } from '../../../deploy/kubernetes/generate-configmap';

/*
 * docker-compose.yml, checked without a Docker engine: the Compose spec's own JSON schema, then what
 * the schema cannot know: mounted files exist, the worker can scale, health checks and URLs point at
 * ports the services really listen on, Prometheus and Grafana are wired to the right services.
 */

const ROOT = findRepoRoot(__dirname);
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
/** The Compose spec's schema, from compose-spec/compose-spec (see test/fixtures/README.md). */
const SCHEMA_FILE = path.join(ROOT, 'test', 'fixtures', 'compose-spec.json');

type Obj = Record<string, unknown>;
interface Service extends Obj {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | number | Obj>;
  expose?: Array<string | number>;
  volumes?: Array<string | Obj>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  container_name?: string;
  restart?: string;
  deploy?: { replicas?: number; resources?: { limits?: { cpus?: string | number; memory?: string } } };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { file?: string }>;
  secrets?: Record<string, { file?: string }>;
}

/** Ports the third-party images listen on (their defaults; the compose file does not move them). */
const IMAGE_PORTS: Record<string, number> = { redis: 6379, 'prom/prometheus': 9090, 'grafana/grafana': 3000, 'openzipkin/zipkin': 9411 };

/** Compose merges `<<` keys (YAML 1.1 merge), as Docker Compose does. */
function loadCompose(): Compose {
  return parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true, uniqueKeys: true }) as Compose;
}

/** The Ajv class for the schema's draft (draft-07 is Ajv's default class). */
function ajvFor(schema: Obj): Ajv {
  const draft = String(schema.$schema ?? '');
  const opts = { strict: false, allErrors: true };
  const ajv = draft.includes('2020-12') ? new Ajv2020(opts) : draft.includes('2019-09') ? new Ajv2019(opts) : new Ajv(opts);
  addFormats(ajv);
  return ajv;
}

function compileComposeSchema(): (data: unknown) => ErrorObject[] {
  assert.ok(existsSync(SCHEMA_FILE), `the Compose schema is expected beside the repository, at ${SCHEMA_FILE}`);
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Obj;
  const ajv = ajvFor(schema);
  // The file names its meta-schema `https://json-schema.org/draft-07/schema`, which Ajv knows as
  // `http://json-schema.org/draft-07/schema`; the class above already is the right draft.
  const { $schema: _meta, ...body } = schema;
  const validate = ajv.compile(body);
  return (data) => (validate(data) ? [] : [...(validate.errors ?? [])]);
}

function envOf(s: Service): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const kv of s.environment) {
      const i = kv.indexOf('=');
      out[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v);
  }
  return out;
}

function argsOf(s: Service): string[] {
  if (s.command === undefined) return [];
  return Array.isArray(s.command) ? s.command : s.command.split(/\s+/).filter(Boolean);
}

function imageName(s: Service): string {
  return (s.image ?? '').replace(/:[^/:]+$/, '');
}

/** `mixer serve` / `mixer worker` (the image's ENTRYPOINT is node bin/mixer.js, CMD serve). */
function mixerCommand(s: Service): 'serve' | 'worker' | undefined {
  if (s.build === undefined && !imageName(s).endsWith('mixer')) return undefined;
  return argsOf(s)[0] === 'worker' ? 'worker' : 'serve';
}

/** The port a service listens on inside its container. */
function listenPort(s: Service): number {
  const cmd = mixerCommand(s);
  if (cmd) {
    const env = envOf(s);
    return Number(cmd === 'worker' ? env.MIXER_METRICS_PORT || 9093 : env.MIXER_PORT || 9091);
  }
  const port = IMAGE_PORTS[imageName(s)];
  assert.ok(port, `no known listen port for image ${s.image}`);
  return port;
}

/** Container ports of a `ports:` entry, and whether it fixes a host port. */
function portEntry(p: string | number | Obj): { target: number; hostFixed: boolean } {
  if (typeof p === 'object') return { target: Number(p.target), hostFixed: p.published !== undefined };
  const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
  return { target: Number(parts[parts.length - 1]), hostFixed: parts.length > 1 };
}



function healthText(s: Service): string {
  const t = s.healthcheck?.test;
  return Array.isArray(t) ? t.join(' ') : (t ?? '');
}

/** Bind-mount sources (relative to the compose file) of a service, with their container targets. */
function bindMounts(s: Service): Array<{ source: string; target: string; readOnly: boolean }> {
  const out: Array<{ source: string; target: string; readOnly: boolean }> = [];
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      if (/^[./~]/.test(source)) out.push({ source, target, readOnly: (mode ?? '').split(',').includes('ro') });
    } else if (v.type === 'bind') {
      out.push({ source: String(v.source), target: String(v.target), readOnly: v.read_only === true });
    }
  }
  return out;
}

function namedVolumes(s: Service): string[] {
  const out: string[] = [];
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') {
      const source = v.split(':')[0];
      if (v.includes(':') && !/^[./~]/.test(source)) out.push(source);
    } else if (v.type === 'volume' && typeof v.source === 'string') {
      out.push(v.source);
    }
  }
  return out;
}

function inRepo(rel: string): string {
  const abs = path.resolve(ROOT, rel);
  assert.ok(abs === ROOT || abs.startsWith(ROOT + path.sep), `${rel} is outside the repository`);
  return abs;
}

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFilesUnder(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

describe('docker-compose.yml', () => {
  const compose = loadCompose();
  const services = compose.services;

  it('is valid against the Compose specification schema', () => {
    const validate = compileComposeSchema();
    const errors = validate(compose);
    assert.deepEqual(errors.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`), []);
    // The schema bites: an unknown service key is rejected.
    const broken = structuredClone(compose);
    (broken.services.worker as Obj).contianer_name = 'typo';
    assert.notDeepEqual(validate(broken), []);
  });

  it('has the six services of the stack', () => {
    assert.deepEqual(Object.keys(services).sort(), ['grafana', 'mixer', 'prometheus', 'redis', 'worker', 'zipkin']);
  });

  it('mounts files and folders that exist in the repository, and named volumes it declares', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of bindMounts(s)) {
        assert.ok(existsSync(inRepo(m.source)), `${name}: bind mount ${m.source} does not exist`);
      }
      for (const v of namedVolumes(s)) assert.ok(compose.volumes && v in compose.volumes, `${name}: volume ${v} is not declared`);
    }
    for (const [kind, defs] of [['configs', compose.configs], ['secrets', compose.secrets]] as const) {
      for (const [name, d] of Object.entries(defs ?? {})) {
        if (d.file) assert.ok(statSync(inRepo(d.file)).isFile(), `${kind}.${name}: ${d.file} does not exist`);
      }
    }
    // The specific mounts the stack relies on, and that they are the right kind of thing.
    const mountOf = (svc: string, target: string) => bindMounts(services[svc]).find((m) => m.target === target);
    for (const svc of ['mixer', 'worker']) {
      const rules = mountOf(svc, envOf(services[svc]).MIXER_CONFIG_DIR);
      assert.ok(rules, `${svc}: MIXER_CONFIG_DIR is a bind mount`);
      assert.equal(path.resolve(ROOT, rules.source), path.join(ROOT, 'rules'));
      assert.ok(rules.readOnly, `${svc}: rules/ is mounted read-only`);
    }
    assert.ok(statSync(inRepo(mountOf('prometheus', '/etc/prometheus/prometheus.yml')!.source)).isFile());
    assert.equal(mountOf('grafana', '/etc/grafana/provisioning')?.source, './grafana/provisioning');
    assert.equal(mountOf('grafana', '/var/lib/grafana/dashboards')?.source, './grafana/dashboards');
    assert.ok(statSync(inRepo('grafana/provisioning')).isDirectory());
    assert.ok(statSync(inRepo('grafana/dashboards')).isDirectory());
  });

  it('builds from contexts and Dockerfiles that exist', () => {
    const built = Object.entries(services).filter(([, s]) => s.build !== undefined);
    assert.ok(built.length > 0);
    for (const [name, s] of built) {
      const b = typeof s.build === 'string' ? { context: s.build } : s.build!;
      const context = inRepo(b.context ?? '.');
      assert.ok(statSync(context).isDirectory(), `${name}: build context ${b.context}`);
      assert.ok(statSync(path.resolve(context, b.dockerfile ?? 'Dockerfile')).isFile(), `${name}: Dockerfile`);
    }
  });

  it('runs the API without in-process workers, and workers on their own', () => {
    assert.deepEqual(argsOf(services.mixer), ['serve', '--no-worker']);
    assert.deepEqual(argsOf(services.worker), ['worker']);
    assert.equal(services.mixer.image, services.worker.image, 'mixer and worker run the same image');
  });

  it('lets the worker scale: no container_name and no fixed host port', () => {
    const w = services.worker;
    assert.equal(w.container_name, undefined);
    for (const p of w.ports ?? []) assert.ok(!portEntry(p).hostFixed, `worker publishes a fixed host port: ${JSON.stringify(p)}`);
    assert.equal(w.deploy?.replicas, undefined, 'replicas would fight `--scale worker=N`');
  });

  it('gives every service a health check on the port it listens on', () => {
    for (const [name, s] of Object.entries(services)) {
      const text = healthText(s);
      assert.ok(text && !s.healthcheck?.disable, `${name} has a health check`);
      const port = listenPort(s);
      if (imageName(s) === 'redis') {
        assert.match(text, /redis-cli\b.*\bping\b/);
        const p = /-p\s+(\d+)/.exec(text);
        assert.equal(p ? Number(p[1]) : 6379, port);
        assert.ok(!argsOf(s).includes('--port'), 'redis keeps its default port');
        continue;
      }
      const url = /https?:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[^\s'"]*)/.exec(text);
      assert.ok(url, `${name}: health check calls a local URL: ${text}`);
      assert.equal(Number(url[1]), port, `${name}: health check port`);
      assert.doesNotMatch(text, /\bcurl\b/, `${name}: images here have no curl`);
      const cmd = mixerCommand(s);
      if (cmd) {
        assert.equal(url[2], '/healthz');
        assert.ok(servedPaths(cmd).has(url[2]), `mixer ${cmd} serves ${url[2]}`);
      }
      // What the service publishes or exposes is the port it listens on.
      for (const p of s.ports ?? []) assert.equal(portEntry(p).target, port, `${name}: ports ${JSON.stringify(p)}`);
      for (const p of s.expose ?? []) assert.equal(Number(String(p).replace(/\/tcp$/, '')), port, `${name}: expose ${p}`);
    }
  });

  it('publishes Mixer, Grafana, Prometheus and Zipkin on their usual host ports', () => {
    const published = (svc: string) => (services[svc].ports ?? []).map((p) => (typeof p === 'object' ? `${String(p.published)}:${String(p.target)}` : String(p)));
    assert.deepEqual(published('mixer'), ['9091:9091']);
    assert.deepEqual(published('grafana'), ['3000:3000']);
    assert.deepEqual(published('prometheus'), ['9090:9090']);
    assert.deepEqual(published('zipkin'), ['9411:9411']);
  });

  it('starts Mixer once Redis is healthy (a condition that can be met)', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {});
      for (const [dep, d] of Object.entries(deps)) {
        assert.ok(services[dep], `${name} depends on unknown service ${dep}`);
        if (d.condition === 'service_healthy') assert.ok(healthText(services[dep]), `${name} waits for ${dep} to be healthy, which has no health check`);
      }
    }
    for (const svc of ['mixer', 'worker']) {
      const deps = services[svc].depends_on as Record<string, { condition?: string }>;
      assert.equal(deps.redis?.condition, 'service_healthy');
    }
  });

  it('points Mixer at Redis (append-only) and Zipkin by service name and listen port', () => {
    for (const svc of ['mixer', 'worker']) {
      const env = envOf(services[svc]);
      for (const key of ['REDIS_URL', 'ZIPKIN_URL']) {
        const url = new URL(env[key]);
        const target = services[url.hostname];
        assert.ok(target, `${svc}: ${key} host ${url.hostname} is a service`);
        assert.equal(Number(url.port), listenPort(target), `${svc}: ${key} port`);
      }
      assert.equal(env.MIXER_CONFIG_DIR, '/etc/mixer/rules');
    }
    const redisArgs = argsOf(services.redis).join(' ');
    assert.match(redisArgs, /--appendonly yes/);
    assert.match(redisArgs, /--maxmemory-policy noeviction/, 'BullMQ needs noeviction');
    assert.ok(namedVolumes(services.redis).length > 0 && (services.redis.volumes as string[]).some((v) => String(v).endsWith(':/data')), 'Redis data on a volume');
  });

  it('sets only variables from the README settings table on Mixer', () => {
    const known = readmeSettings();
    assert.ok(known.has('REDIS_URL') && known.has('MIXER_PORT'), 'parsed the settings table');
    for (const svc of ['mixer', 'worker']) {
      for (const name of Object.keys(envOf(services[svc]))) assert.ok(known.has(name), `${svc}: ${name} is not in README's settings table`);
    }
  });

  it('pins image tags, restarts unless stopped and limits resources', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} names its image`);
      const tag = /:([^/:]+)$/.exec(s.image)?.[1];
      assert.ok(tag && tag !== 'latest' && /\d/.test(tag), `${name}: image tag pinned (${s.image})`);
      assert.equal(s.restart, 'unless-stopped', name);
      const limits = s.deploy?.resources?.limits;
      assert.ok(limits?.cpus && limits?.memory, `${name}: cpu and memory limits`);
    }
  });

  it('has Prometheus scrape the mixer service and every worker replica', () => {
    const file = path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
    const config = parse(readFileSync(file, 'utf8')) as { scrape_configs?: Obj[] };
    const jobs = config.scrape_configs ?? [];
    const statics = jobs.flatMap((j) => ((j.static_configs as Array<{ targets?: string[] }> | undefined) ?? []).flatMap((c) => c.targets ?? []));
    assert.ok(statics.includes(`mixer:${listenPort(services.mixer)}`), `a job scrapes mixer:9091 (targets: ${statics.join(', ')})`);
    // A static `worker:9093` would reach one replica; DNS service discovery finds all of them.
    const dns = jobs.flatMap((j) => (j.dns_sd_configs as Array<{ names?: string[]; type?: string; port?: number }> | undefined) ?? []);
    assert.ok(
      dns.some((d) => (d.names ?? []).includes('worker') && (d.type ?? 'SRV') === 'A' && d.port === listenPort(services.worker)),
      'a job finds workers with dns_sd_configs {names: [worker], type: A, port: 9093}',
    );
  });

  it('has Grafana read Prometheus by service name, and dashboards from the mounted folder', () => {
    const provisioning = path.join(ROOT, 'grafana', 'provisioning');
    const grafanaTargets = bindMounts(services.grafana).map((m) => m.target);
    let datasources = 0;
    let providers = 0;
    for (const file of yamlFilesUnder(provisioning)) {
      const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as { datasources?: Array<{ url?: string; type?: string }>; providers?: Array<{ options?: { path?: string } }> };
      for (const ds of doc.datasources ?? []) {
        if (ds.type !== 'prometheus' || !ds.url) continue;
        datasources++;
        const url = new URL(ds.url);
        assert.ok(services[url.hostname], `${path.relative(ROOT, file)}: datasource host ${url.hostname} is a service`);
        assert.equal(Number(url.port), listenPort(services[url.hostname]), `${path.relative(ROOT, file)}: datasource port`);
      }
      for (const p of doc.providers ?? []) {
        if (!p.options?.path) continue;
        providers++;
        assert.ok(grafanaTargets.some((t) => p.options!.path === t || p.options!.path!.startsWith(`${t}/`)), `${path.relative(ROOT, file)}: dashboards path ${p.options.path} is mounted`);
      }
    }
    assert.ok(datasources > 0, 'a Prometheus datasource is provisioned');
    assert.ok(providers > 0, 'a dashboards provider is provisioned');
  });
});
