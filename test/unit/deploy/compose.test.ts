import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { readmeSettings, servedPaths } from '../../support/repo-facts';
import { freePort } from '../../support/processes';
import { waitFor } from '../../support/wait';
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
  profiles?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } } | null>;
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

/** The networks a service joins (`default` when it names none), with its fixed address on each. */
function networksOf(s: Service): Map<string, string | undefined> {
  if (s.networks === undefined) return new Map([['default', undefined]]);
  if (Array.isArray(s.networks)) return new Map(s.networks.map((n) => [n, undefined]));
  return new Map(Object.entries(s.networks).map(([n, v]) => [n, v?.ipv4_address]));
}

/** The text of a `sh -c <script>` command as the shell sees it: Compose has replaced `$$` by `$`. */
function shellScript(s: Service): string {
  const args = argsOf(s);
  assert.deepEqual(args.slice(0, 2), ['sh', '-c'], 'a shell script');
  // A lone `$` would be interpolated by Compose from the host's environment, not left to the shell.
  assert.doesNotMatch(args[2].replace(/\$\$/g, ''), /\$/, 'every $ of the script is written $$');
  return args[2].replace(/\$\$/g, '$');
}

/** Whether IPv4 address `ip` lies in `subnet` (a.b.c.d/n). */
function inSubnet(ip: string, subnet: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  const [base, bits] = subnet.split('/');
  const size = 2 ** (32 - Number(bits));
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

/** `host:port,host:port` as Mixer reads MIXER_REDIS_CLUSTER and MIXER_REDIS_SENTINELS. */
function endpointList(text: string | undefined): Array<{ host: string; port: number }> {
  return (text ?? '')
    .split(',')
    .filter(Boolean)
    .map((e) => {
      const m = /^([^:]+):(\d+)$/.exec(e.trim());
      assert.ok(m, `${e} is host:port`);
      return { host: m[1], port: Number(m[2]) };
    });
}

function sentinelEndpoints(s: Service): Array<{ host: string; port: number }> {
  return endpointList(envOf(s).MIXER_REDIS_SENTINELS);
}

/** The active profiles a service runs in (`[]`: always). */
function profilesOf(s: Service): string[] {
  return s.profiles ?? [];
}

function imageName(s: Service): string {
  return (s.image ?? '').replace(/:[^/:]+$/, '');
}

/** `mixer serve` / `mixer worker` (the image's ENTRYPOINT is node bin/mixer.js, CMD serve). */
function mixerCommand(s: Service): 'serve' | 'worker' | undefined {
  if (s.build === undefined && !imageName(s).endsWith('mixer')) return undefined;
  return argsOf(s)[0] === 'worker' ? 'worker' : 'serve';
}

/** A Redis Sentinel: the redis image started with `--sentinel` (it listens on 26379). */
function isSentinel(s: Service): boolean {
  return imageName(s) === 'redis' && /(^|\s)--sentinel(\s|$)/.test(argsOf(s).join(' '));
}

/** A one-shot job: runs to completion once (`restart: "no"`); others wait for it with service_completed_successfully. */
function isOneShot(s: Service): boolean {
  return s.restart === 'no';
}

/** A node of a Redis Cluster: redis-server with cluster mode on. */
function isClusterNode(s: Service): boolean {
  return imageName(s) === 'redis' && /--cluster-enabled yes/.test(argsOf(s).join(' '));
}

/** The port a service listens on inside its container. */
function listenPort(s: Service): number {
  const cmd = mixerCommand(s);
  if (cmd) {
    const env = envOf(s);
    return Number(cmd === 'worker' ? env.MIXER_METRICS_PORT || 9093 : env.MIXER_PORT || 9091);
  }
  if (isSentinel(s)) return 26379;
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

  it('has the six services of the stack, and the Redis Cluster and Sentinel shapes as profiles', () => {
    const inProfile = (p: string | undefined) =>
      Object.keys(services)
        .filter((n) => (p === undefined ? profilesOf(services[n]).length === 0 : profilesOf(services[n]).includes(p)))
        .sort();
    // `docker compose up` without a profile starts exactly what it started before the profiles existed.
    assert.deepEqual(inProfile(undefined), ['grafana', 'mixer', 'prometheus', 'redis', 'worker', 'zipkin']);
    assert.deepEqual(inProfile('cluster'), [
      'mixer-cluster',
      ...[0, 1, 2, 3, 4, 5].map((i) => `redis-cluster-${i}`),
      'redis-cluster-create',
      'worker-cluster',
    ]);
    assert.deepEqual(inProfile('sentinel'), ['mixer-sentinel', 'redis-ha-0', 'redis-ha-1', 'redis-ha-2', 'sentinel-0', 'sentinel-1', 'sentinel-2', 'worker-sentinel']);
    for (const [name, s] of Object.entries(services)) assert.ok(profilesOf(s).length <= 1, `${name}: one profile at most`);
  });

  it('joins only declared networks, at distinct fixed addresses inside their subnets', () => {
    const seen = new Map<string, string>();
    for (const [name, s] of Object.entries(services)) {
      for (const [net, ip] of networksOf(s)) {
        if (net !== 'default') assert.ok(compose.networks && net in compose.networks, `${name}: network ${net} is declared`);
        if (ip === undefined) continue;
        const subnets = (compose.networks?.[net]?.ipam?.config ?? []).map((c) => c.subnet ?? '');
        assert.ok(
          subnets.some((sub) => inSubnet(ip, sub)),
          `${name}: ${ip} lies in a subnet of ${net} (${subnets.join(', ')})`,
        );
        assert.ok(!seen.has(ip), `${name}: ${ip} is also ${seen.get(ip)}'s address`);
        seen.set(ip, name);
      }
    }
    // Mixer services on the profiles' Redis still reach Zipkin and are scraped on the default network.
    for (const [name, s] of Object.entries(services)) {
      if (mixerCommand(s) && profilesOf(s).length) assert.ok(networksOf(s).has('default'), `${name} is on the default network`);
    }
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
      if (isOneShot(s)) {
        // A job that exits is never "healthy": services wait for it to complete instead.
        assert.equal(s.healthcheck, undefined, `${name}: a one-shot job has no health check`);
        continue;
      }
      const text = healthText(s);
      assert.ok(text && !s.healthcheck?.disable, `${name} has a health check`);
      const port = listenPort(s);
      if (imageName(s) === 'redis') {
        assert.match(text, /redis-cli\b.*\bping\b/);
        const p = /-p\s+(\d+)/.exec(text);
        assert.equal(p ? Number(p[1]) : 6379, port, `${name}: health check port`);
        assert.ok(!argsOf(s).includes('--port'), 'redis keeps its default port');
        if (isSentinel(s)) assert.match(shellScript(s), /^port 26379\b|"port 26379"/m, `${name}: the Sentinel's config says port 26379`);
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
        if (d.condition === 'service_completed_successfully') assert.ok(isOneShot(services[dep]), `${name} waits for ${dep} to complete, which restarts`);
        if (isOneShot(services[dep])) assert.equal(d.condition, 'service_completed_successfully', `${name}: waits for the job ${dep} to complete`);
        // A dependency must run whenever the service does: in no profile, or in the service's own.
        const theirs = profilesOf(services[dep]);
        assert.ok(theirs.length === 0 || theirs.every((p) => profilesOf(s).includes(p)), `${name} depends on ${dep}, which runs only in profile ${theirs.join(', ')}`);
      }
    }
    for (const svc of ['mixer', 'worker']) {
      const deps = services[svc].depends_on as Record<string, { condition?: string }>;
      assert.equal(deps.redis?.condition, 'service_healthy');
    }
    // The cluster's Mixer starts once the cluster is created; the Sentinel one once every Sentinel answers.
    for (const svc of ['mixer-cluster', 'worker-cluster']) {
      const deps = services[svc].depends_on as Record<string, { condition?: string }>;
      assert.equal(deps['redis-cluster-create']?.condition, 'service_completed_successfully', svc);
    }
    for (const svc of ['mixer-sentinel', 'worker-sentinel']) {
      const deps = services[svc].depends_on as Record<string, { condition?: string }>;
      for (const n of sentinelEndpoints(services[svc])) assert.equal(deps[n.host]?.condition, 'service_healthy', `${svc} waits for ${n.host}`);
    }
    for (const [name, s] of Object.entries(services)) {
      if (!isClusterNode(s)) continue;
      const deps = services['redis-cluster-create'].depends_on as Record<string, { condition?: string }>;
      assert.equal(deps[name]?.condition, 'service_healthy', `the cluster is created once ${name} answers`);
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

  it('points the profiles\' Mixers at their Redis Cluster and Sentinels, which watch the profile\'s primary', () => {
    const byIp = new Map<string, string>();
    for (const [name, s] of Object.entries(services)) for (const ip of networksOf(s).values()) if (ip) byIp.set(ip, name);
    const mixers = Object.entries(services).filter(([, s]) => mixerCommand(s) && profilesOf(s).length > 0);
    assert.equal(mixers.length, 4);
    for (const [name, s] of mixers) {
      const env = envOf(s);
      const chosen = ['REDIS_URL', 'MIXER_REDIS_CLUSTER', 'MIXER_REDIS_SENTINELS'].filter((k) => env[k]);
      assert.equal(chosen.length, 1, `${name}: one Redis mode (${chosen.join(', ')}); Mixer refuses two`);
      const profile = profilesOf(s)[0];
      const expect = profile === 'cluster' ? 'MIXER_REDIS_CLUSTER' : 'MIXER_REDIS_SENTINELS';
      assert.equal(chosen[0], expect, name);
      const targets = endpointList(env[expect]);
      assert.ok(targets.length >= (profile === 'cluster' ? 2 : 3), `${name}: enough seeds to start with one down`);
      for (const t of targets) {
        const target = services[t.host];
        assert.ok(target, `${name}: ${expect} names ${t.host}, not a service`);
        assert.ok(profile === 'cluster' ? isClusterNode(target) : isSentinel(target), `${name}: ${t.host} is a ${profile} node`);
        assert.deepEqual(profilesOf(target), [profile], `${name}: ${t.host} runs in the same profile`);
        assert.equal(t.port, listenPort(target), `${name}: ${t.host} port`);
        assert.ok([...networksOf(s).keys()].some((n) => networksOf(target).has(n)), `${name} shares a network with ${t.host}`);
      }
      const zipkin = new URL(env.ZIPKIN_URL);
      assert.equal(Number(zipkin.port), listenPort(services[zipkin.hostname]), `${name}: ZIPKIN_URL`);
    }
    // The create job joins exactly the cluster's nodes, by their fixed addresses, with a replica each.
    const create = services['redis-cluster-create'];
    const nodes = endpointList(envOf(create).CLUSTER_NODES.trim().split(/\s+/).join(','));
    const clusterNodes = Object.keys(services).filter((n) => isClusterNode(services[n]));
    assert.equal(clusterNodes.length, 6);
    assert.deepEqual(nodes.map((n) => byIp.get(n.host)).sort(), clusterNodes.sort(), 'CLUSTER_NODES are the addresses of the six nodes');
    for (const n of nodes) assert.equal(n.port, 6379);
    assert.match(shellScript(create), /redis-cli --cluster create \$CLUSTER_NODES --cluster-replicas 1 --cluster-yes/);
    // The Sentinels watch redis-ha-0, a replica each of the others follows.
    for (const [name, s] of Object.entries(services)) {
      if (!isSentinel(s)) continue;
      const monitor = /sentinel monitor \$MASTER_NAME (\S+) (\d+) (\d+)/.exec(shellScript(s));
      assert.ok(monitor, `${name}: sentinel monitor line`);
      assert.equal(byIp.get(monitor[1]), 'redis-ha-0', `${name} monitors redis-ha-0`);
      assert.equal(envOf(s).MASTER_NAME, envOf(services['mixer-sentinel']).MIXER_REDIS_SENTINEL_NAME, `${name}: the name Mixer asks for`);
      assert.equal(Number(monitor[3]), 2, `${name}: quorum 2 of 3`);
    }
    for (const replica of ['redis-ha-1', 'redis-ha-2']) {
      const args = argsOf(services[replica]);
      const at = args.indexOf('--replicaof');
      assert.ok(at > 0, `${replica} is a replica`);
      assert.equal(byIp.get(args[at + 1]), 'redis-ha-0', `${replica} follows redis-ha-0`);
    }
    // Every Redis holding Mixer's data is durable and never evicts (BullMQ needs noeviction).
    for (const [name, s] of Object.entries(services)) {
      if (imageName(s) !== 'redis' || isSentinel(s) || isOneShot(s)) continue;
      assert.match(argsOf(s).join(' '), /--appendonly yes/, name);
      assert.match(argsOf(s).join(' '), /--maxmemory-policy noeviction/, name);
      assert.ok(namedVolumes(s).length === 1 && (s.volumes ?? []).some((v) => String(v).endsWith(':/data')), `${name}: data on its own volume`);
    }
  });

  it('sets only variables from the README settings table on Mixer', () => {
    const known = readmeSettings();
    assert.ok(known.has('REDIS_URL') && known.has('MIXER_PORT'), 'parsed the settings table');
    for (const svc of Object.keys(services).filter((n) => mixerCommand(services[n]))) {
      for (const name of Object.keys(envOf(services[svc]))) assert.ok(known.has(name), `${svc}: ${name} is not in README's settings table`);
    }
  });

  it('pins image tags, restarts unless stopped and limits resources', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} names its image`);
      const tag = /:([^/:]+)$/.exec(s.image)?.[1];
      assert.ok(tag && tag !== 'latest' && /\d/.test(tag), `${name}: image tag pinned (${s.image})`);
      assert.equal(s.restart, isOneShot(s) ? 'no' : 'unless-stopped', name);
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
    // The profiles' Mixers and workers, by DNS: no target at all while their profile is off.
    for (const [name, s] of Object.entries(services)) {
      if (!mixerCommand(s) || profilesOf(s).length === 0) continue;
      assert.ok(
        dns.some((d) => (d.names ?? []).includes(name) && d.type === 'A' && d.port === listenPort(s)),
        `a job finds ${name} with dns_sd_configs {names: [${name}], type: A, port: ${listenPort(s)}}`,
      );
    }
    const jobNames = jobs.map((j) => j.job_name);
    assert.equal(new Set(jobNames).size, jobNames.length, 'job names are unique');
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

describe('docker-compose.yml: the redis-cluster-create job, run against six real redis-server nodes @redis', function () {
  this.timeout(90_000);
  const script = shellScript(loadCompose().services['redis-cluster-create']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-compose-cluster-'));
  const nodes: Array<{ port: number; child: ChildProcess }> = [];
  const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout;
  /** Runs the job's script as the container would (sh -c), with the six local nodes as CLUSTER_NODES. */
  const runJob = () =>
    spawnSync('sh', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(' ') },
      timeout: 80_000,
    });

  before(async () => {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
        { stdio: 'ignore' },
      );
      nodes.push({ port, child });
    }
    for (const n of nodes) await waitFor(`redis-server on ${n.port}`, () => cli(n.port, 'ping').trim() === 'PONG', 10_000, 50);
  });

  after(async () => {
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
            n.child.once('exit', () => resolve());
            n.child.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a cluster of 3 primaries with a replica each, ok on every node, and leaves it alone the second time', () => {
    const first = runJob();
    assert.equal(first.status, 0, `the job failed:\n${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, /the cluster is ok on every node/);
    // Gossip converges on each node in its own time (slower on a loaded machine): wait for each view.
    for (const n of nodes) {
      let info = '';
      const converged = () => /^cluster_state:ok/m.test(info) && /^cluster_known_nodes:6/m.test(info) && /^cluster_size:3/m.test(info);
      for (const until = Date.now() + 30_000; Date.now() < until; ) {
        info = cli(n.port, 'cluster', 'info');
        if (converged()) break;
        spawnSync('sleep', ['0.2']);
      }
      assert.match(info, /^cluster_state:ok/m, `node ${n.port}`);
      assert.match(info, /^cluster_known_nodes:6/m, `node ${n.port}`);
      assert.match(info, /^cluster_size:3/m, `node ${n.port}: three primaries hold the slots`);
    }
    const roles = nodes.map((n) => /^role:(\w+)/m.exec(cli(n.port, 'info', 'replication'))?.[1]).sort();
    assert.deepEqual(roles, ['master', 'master', 'master', 'slave', 'slave', 'slave']);
    // `up` runs the job again on an existing cluster: it must succeed without touching it.
    const again = runJob();
    assert.equal(again.status, 0, `the second run failed:\n${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /the cluster exists/);
  });
});
