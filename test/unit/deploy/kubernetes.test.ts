import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigDir } from '../../../src/config/load';
import { readmeSettings, servedPaths } from '../../support/repo-facts';
import { CONFIGMAP_NAME, CONFIGMAP_PATH, findRepoRoot, readRules, renderConfigMap } from '../../../deploy/kubernetes/generate-configmap';

/*
 * deploy/kubernetes/, checked without a cluster. Each object is validated with kubernetes-models 5,
 * whose models are generated from the OpenAPI schema of Kubernetes v1.36 (its 5.0.0 changelog:
 * "Update to Kubernetes v1.36.0"). Those schemas do not reject unknown fields, and know nothing of
 * how objects refer to each other, so the rest of this file checks what `kubectl apply` would only
 * reveal at run time: selectors, ports, probes against the routes Mixer really serves, HPA and PDB
 * targets, the ConfigMap against rules/, and the settings Mixer reads.
 */

const ROOT = findRepoRoot(__dirname);
const DIR = path.join(ROOT, 'deploy', 'kubernetes');
const NAMESPACE = 'mixer';

// Manifests are walked as plain data; kubernetes-models has already checked their shape.
type Obj = Record<string, any>;
interface Manifest {
  file: string;
  obj: Obj;
}
interface Model {
  validate(): void;
}

/** kubernetes-models is ESM only (and its exports have no `require`): load it with a real import(). */
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a TS import() would compile to require(), which ESM-only packages refuse
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** The model class for `apiVersion`/`kind`: `apps/v1` + `Deployment` → kubernetes-models/apps/v1/Deployment.js. */
async function modelClass(apiVersion: string, kind: string): Promise<new (data: Obj) => Model> {
  const file = path.join(ROOT, 'node_modules', 'kubernetes-models', ...apiVersion.split('/'), `${kind}.js`);
  const mod = await importEsm(pathToFileURL(file).href).catch((err: Error) => {
    throw new Error(`kubernetes-models has no ${apiVersion} ${kind} (${err.message.split('\n')[0]})`);
  });
  return mod[kind] as new (data: Obj) => Model;
}

function loadManifests(dir = DIR): Manifest[] {
  const out: Manifest[] = [];
  for (const name of manifestFiles(dir)) {
    const docs = parseAllDocuments(readFileSync(path.join(dir, name), 'utf8'), { uniqueKeys: true });
    for (const doc of Array.isArray(docs) ? docs : []) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], name);
      const obj = doc.toJS() as Obj | null;
      if (obj !== null) out.push({ file: name, obj });
    }
  }
  return out;
}

/** The files `kubectl apply -f deploy/kubernetes/` reads, in the order it reads them. */
function manifestFiles(dir = DIR): string[] {
  return readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
}

/** The Redis shapes beside the single server of redis.yaml: each folder replaces redis.yaml. */
const SHAPES = ['redis-cluster', 'redis-sentinel'];

const id = (o: Obj): string => `${o.kind}/${o.metadata?.name}`;
const isWorkload = (o: Obj): boolean => ['Deployment', 'StatefulSet'].includes(o.kind);

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** A container's declared port for a probe/Service port (by name or number), or undefined. */
function containerPort(container: Obj, port: string | number): Obj | undefined {
  return (container.ports ?? []).find((p: Obj) => (typeof port === 'number' ? p.containerPort === port : p.name === port));
}

function envOf(container: Obj): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map((e: Obj) => [e.name, e.value ?? '']));
}

/** A container's environment as the kubelet builds it: `envFrom` ConfigMaps (of `objs`), then `env` over them. */
function fullEnvOf(container: Obj, objs: Obj[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const name = from.configMapRef?.name;
    assert.ok(name, 'envFrom names a ConfigMap');
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    assert.ok(cm, `envFrom: ConfigMap ${name} exists`);
    Object.assign(out, cm.data);
  }
  return { ...out, ...envOf(container) };
}

/** Mixer containers: the image's ENTRYPOINT is `node bin/mixer.js`; args[0] is the command. */
function mixerContainers(all: Manifest[]): Array<{ workload: Obj; container: Obj; cmd: 'serve' | 'worker' }> {
  const out: Array<{ workload: Obj; container: Obj; cmd: 'serve' | 'worker' }> = [];
  for (const { obj } of all) {
    if (!isWorkload(obj)) continue;
    for (const c of obj.spec.template.spec.containers) {
      if (!/(^|\/)mixer:/.test(c.image)) continue;
      out.push({ workload: obj, container: c, cmd: c.args?.[0] === 'worker' ? 'worker' : 'serve' });
    }
  }
  return out;
}

/** Where Mixer listens: `serve` on MIXER_PORT (default 9091), `worker` on MIXER_METRICS_PORT (default 9093). */
function mixerPort(container: Obj, cmd: 'serve' | 'worker'): number {
  const env = envOf(container);
  return Number(cmd === 'worker' ? env.MIXER_METRICS_PORT || 9093 : env.MIXER_PORT || 9091);
}



/** The variables the kubelet injects for a Service when service links are on (`redis` → REDIS_PORT, ...). */
function serviceLinkVars(service: string, ports: Obj[]): string[] {
  const n = service.toUpperCase().replace(/-/g, '_');
  const out = [`${n}_SERVICE_HOST`, `${n}_SERVICE_PORT`, `${n}_PORT`];
  for (const p of ports) {
    const proto = String(p.protocol ?? 'TCP');
    out.push(`${n}_PORT_${p.port}_${proto}`, `${n}_PORT_${p.port}_${proto}_PROTO`, `${n}_PORT_${p.port}_${proto}_PORT`, `${n}_PORT_${p.port}_${proto}_ADDR`);
    if (p.name) out.push(`${n}_SERVICE_PORT_${String(p.name).toUpperCase().replace(/-/g, '_')}`);
  }
  return out;
}

describe('deploy/kubernetes', () => {
  const all = loadManifests();
  const objs = all.map((m) => m.obj);
  const byKind = (kind: string): Obj[] => objs.filter((o) => o.kind === kind);
  const workloads = objs.filter(isWorkload);
  const mixers = mixerContainers(all);

  it('holds the components, one file each', () => {
    const kinds = (file: string) => all.filter((m) => m.file === file).map((m) => m.obj.kind).sort();
    assert.deepEqual(kinds('00-namespace.yaml'), ['Namespace']);
    assert.deepEqual(kinds('configmap.yaml'), ['ConfigMap']);
    assert.deepEqual(kinds('secret.yaml'), ['Secret', 'Secret']); // admin token, mesh key
    assert.deepEqual(kinds('redis.yaml'), ['ConfigMap', 'Service', 'StatefulSet']); // mixer-redis: Mixer's Redis settings
    assert.deepEqual(kinds('mixer.yaml'), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    assert.deepEqual(kinds('worker.yaml'), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  });

  it('validates every object with kubernetes-models 5 (Kubernetes v1.36 schemas)', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'kubernetes-models', 'package.json'), 'utf8')) as { version: string };
    assert.match(pkg.version, /^5\./);
    for (const { file, obj } of all) {
      const Model = await modelClass(obj.apiVersion, obj.kind);
      assert.doesNotThrow(() => new Model(obj).validate(), `${file}: ${id(obj)}`);
    }
    // The validation bites: a port given as text is rejected.
    const Deployment = await modelClass('apps/v1', 'Deployment');
    const broken = structuredClone(byKind('Deployment')[0]);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    assert.throws(() => new Deployment(broken).validate(), /containerPort/);
  });

  it('creates the namespace first, and puts every other object in it', () => {
    const [first] = manifestFiles();
    assert.deepEqual(all.filter((m) => m.file === first).map((m) => id(m.obj)), [`Namespace/${NAMESPACE}`], '`kubectl apply -f` reads files in name order');
    for (const o of objs) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, NAMESPACE, id(o));
    const names = objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
    assert.equal(new Set(names).size, names.length, 'no two objects share kind and name');
  });

  it('labels objects and pods with app.kubernetes.io/name and component', () => {
    for (const o of objs) {
      assert.ok(o.metadata.labels?.['app.kubernetes.io/name'], `${id(o)}: app.kubernetes.io/name`);
      if (o.kind !== 'Namespace') assert.ok(o.metadata.labels?.['app.kubernetes.io/component'], `${id(o)}: app.kubernetes.io/component`);
    }
    for (const w of workloads) {
      const labels = w.spec.template.metadata.labels;
      assert.ok(labels['app.kubernetes.io/name'] && labels['app.kubernetes.io/component'], `${id(w)}: pod labels`);
      assert.ok(matches(w.spec.selector.matchLabels, labels), `${id(w)}: selector matches its own pod template`);
    }
    const mixerPods = mixers.map((m) => m.workload.spec.template.metadata.labels['app.kubernetes.io/component']);
    assert.deepEqual(mixerPods.sort(), ['server', 'worker'], 'serve and worker pods differ by component, so selectors can tell them apart');
  });

  it('routes every Service to pods that declare its target ports', () => {
    for (const svc of byKind('Service')) {
      const selected = workloads.filter((w) => matches(svc.spec.selector, w.spec.template.metadata.labels));
      assert.ok(selected.length > 0, `${id(svc)} selects no pods`);
      for (const w of selected) {
        for (const p of svc.spec.ports) {
          const target = p.targetPort ?? p.port;
          const declared = w.spec.template.spec.containers.some((c: Obj) => containerPort(c, target));
          assert.ok(declared, `${id(svc)} port ${p.port} → ${target}: not declared by ${id(w)}`);
        }
      }
    }
    for (const sts of byKind('StatefulSet')) {
      const governing = byKind('Service').find((s) => s.metadata.name === sts.spec.serviceName);
      assert.ok(governing, `${id(sts)}: serviceName ${sts.spec.serviceName} exists`);
      assert.equal(governing.spec.clusterIP, 'None', `${id(sts)}: its governing Service is headless`);
    }
  });

  it('probes the ports Mixer listens on, at the routes it really serves', () => {
    assert.deepEqual(mixers.map((m) => `${m.workload.metadata.name}:${m.cmd}`).sort(), ['mixer-worker:worker', 'mixer:serve']);
    for (const { workload, container, cmd } of mixers) {
      const where = `${id(workload)} (${cmd})`;
      const served = servedPaths(cmd);
      assert.ok(served.has('/healthz') && served.has('/readyz'), `mixer ${cmd} serves /healthz and /readyz (per the source)`);
      const listen = mixerPort(container, cmd);
      assert.equal(listen, cmd === 'serve' ? 9091 : 9093, where);
      assert.equal(container.command, undefined, `${where}: keeps the image's ENTRYPOINT (node bin/mixer.js)`);
      const expected: Record<string, string> = { livenessProbe: '/healthz', readinessProbe: '/readyz', startupProbe: '/healthz' };
      for (const [probe, wanted] of Object.entries(expected)) {
        const get = container[probe]?.httpGet;
        if (probe === 'startupProbe' && !container[probe]) continue;
        assert.ok(get, `${where}: ${probe} is an httpGet`);
        assert.equal(get.path, wanted, `${where}: ${probe} path`);
        assert.ok(served.has(get.path), `${where}: ${probe} ${get.path} is served by mixer ${cmd}`);
        const port = containerPort(container, get.port);
        assert.ok(port, `${where}: ${probe} port ${get.port} is declared`);
        assert.equal(port.containerPort, listen, `${where}: ${probe} reaches the port Mixer listens on`);
      }
      if (cmd === 'serve') assert.ok(container.args.includes('--no-worker'), `${where}: workers run in their own Deployment`);
      // Prometheus annotations point at the same port (where /metrics is).
      const ann = workload.spec.template.metadata.annotations ?? {};
      assert.equal(ann['prometheus.io/scrape'], 'true', where);
      assert.equal(Number(ann['prometheus.io/port']), listen, where);
      assert.ok(served.has(ann['prometheus.io/path'] ?? '/metrics'), `${where}: scrape path is served`);
    }
  });

  it('points every HorizontalPodAutoscaler at a Deployment whose pods request CPU', () => {
    const hpas = byKind('HorizontalPodAutoscaler');
    assert.equal(hpas.length, 2);
    for (const hpa of hpas) {
      const ref = hpa.spec.scaleTargetRef;
      const target = workloads.find((w) => w.kind === ref.kind && w.apiVersion === ref.apiVersion && w.metadata.name === ref.name);
      assert.ok(target, `${id(hpa)}: ${ref.kind}/${ref.name} exists`);
      assert.ok(hpa.spec.minReplicas <= hpa.spec.maxReplicas, id(hpa));
      const onCpu = (hpa.spec.metrics ?? []).some((m: Obj) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.type === 'Utilization');
      assert.ok(onCpu, `${id(hpa)}: scales on CPU utilization`);
      // Utilization is measured against requests: without them the HPA cannot compute it.
      for (const c of target.spec.template.spec.containers) assert.ok(c.resources?.requests?.cpu, `${id(target)}/${c.name}: requests cpu`);
    }
  });

  it('gives every PodDisruptionBudget pods to protect, and room to evict one', () => {
    const pdbs = byKind('PodDisruptionBudget');
    assert.equal(pdbs.length, 2);
    for (const pdb of pdbs) {
      const selected = workloads.filter((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels));
      assert.equal(selected.length, 1, `${id(pdb)} selects one workload's pods`);
      const w = selected[0];
      const hpa = byKind('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === w.metadata.name);
      const fewest = hpa ? hpa.spec.minReplicas : w.spec.replicas;
      assert.equal(typeof pdb.spec.minAvailable, 'number', id(pdb));
      assert.ok(pdb.spec.minAvailable < fewest, `${id(pdb)}: minAvailable ${pdb.spec.minAvailable} < ${fewest} replicas, or a node drain blocks`);
    }
  });

  it('has every resource request within its limit', () => {
    const qty = (q: string | number): number => {
      const m = /^([\d.]+)(m|Ki|Mi|Gi)?$/.exec(String(q));
      assert.ok(m, `quantity ${q}`);
      return Number(m[1]) * ({ m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ''] ?? 1);
    };
    for (const w of workloads) {
      for (const c of w.spec.template.spec.containers) {
        for (const r of ['cpu', 'memory']) {
          assert.ok(c.resources?.requests?.[r] && c.resources?.limits?.[r], `${id(w)}/${c.name}: ${r} request and limit`);
          assert.ok(qty(c.resources.requests[r]) <= qty(c.resources.limits[r]), `${id(w)}/${c.name}: ${r} request ≤ limit`);
        }
      }
    }
  });

  it('ships rules/ as the ConfigMap, unchanged (regenerate it when rules/ change)', () => {
    const cm = byKind('ConfigMap').find((c) => c.metadata.name === CONFIGMAP_NAME);
    assert.ok(cm, `ConfigMap ${CONFIGMAP_NAME}`);
    const rules = readRules(path.join(ROOT, 'rules'));
    assert.ok(rules.size > 0);
    assert.deepEqual(cm.data, Object.fromEntries(rules), 'configmap.yaml data = rules/*.yaml');
    assert.equal(
      readFileSync(path.join(ROOT, CONFIGMAP_PATH), 'utf8'),
      renderConfigMap(rules),
      `${CONFIGMAP_PATH} is not what generate-configmap.ts writes: run \`node dist/deploy/kubernetes/generate-configmap.js\``,
    );
  });

  it('mounts the ConfigMap at MIXER_CONFIG_DIR and the admin token Secret at MIXER_ADMIN_TOKEN_FILE', () => {
    for (const { workload, container, cmd } of mixers) {
      const where = `${id(workload)} (${cmd})`;
      const env = envOf(container);
      const volumes: Obj[] = workload.spec.template.spec.volumes ?? [];
      const mountFor = (file: string) =>
        (container.volumeMounts ?? []).find((m: Obj) => file === m.mountPath || file.startsWith(`${m.mountPath}/`));
      const rulesMount = mountFor(env.MIXER_CONFIG_DIR);
      assert.ok(rulesMount, `${where}: something is mounted at MIXER_CONFIG_DIR ${env.MIXER_CONFIG_DIR}`);
      assert.equal(rulesMount.mountPath, '/etc/mixer/rules');
      assert.equal(rulesMount.subPath, undefined, `${where}: a subPath mount never sees ConfigMap updates`);
      const rulesVolume = volumes.find((v) => v.name === rulesMount.name);
      assert.equal(rulesVolume?.configMap?.name, CONFIGMAP_NAME, `${where}: the rules are the ${CONFIGMAP_NAME} ConfigMap`);
      for (const v of volumes) {
        if (v.configMap) assert.ok(byKind('ConfigMap').some((c) => c.metadata.name === v.configMap.name), `${where}: ConfigMap ${v.configMap.name} exists`);
        if (v.secret) assert.ok(byKind('Secret').some((s) => s.metadata.name === v.secret.secretName), `${where}: Secret ${v.secret.secretName} exists`);
      }
      if (cmd === 'serve') {
        const tokenFile = env.MIXER_ADMIN_TOKEN_FILE;
        assert.ok(tokenFile, `${where}: MIXER_ADMIN_TOKEN_FILE is set`);
        assert.equal(env.MIXER_ADMIN_TOKEN, undefined, `${where}: the token comes from the Secret, not the manifest`);
        const m = mountFor(tokenFile);
        assert.ok(m, `${where}: ${tokenFile} is on a mounted volume`);
        const secretName = volumes.find((v) => v.name === m.name)?.secret?.secretName;
        const secret = byKind('Secret').find((s) => s.metadata.name === secretName);
        assert.ok(secret, `${where}: ${tokenFile} comes from a Secret`);
        const key = path.posix.relative(m.mountPath, tokenFile);
        assert.ok(key in { ...secret.data, ...secret.stringData }, `${where}: Secret ${secretName} has key ${key}`);
        // The shipped placeholder is empty: the admin APIs stay off until an operator sets a token.
        assert.equal(secret.stringData?.[key], '', 'the committed token is an empty placeholder');
      }
    }
  });

  it('sets only settings from README, with URLs that reach a Service', () => {
    const known = readmeSettings();
    assert.ok(known.has('MIXER_CONFIG_DIR') && known.has('MIXER_METRICS_PORT'), 'parsed the settings table');
    for (const { workload, container, cmd } of mixers) {
      const env = fullEnvOf(container, objs);
      for (const name of Object.keys(env)) assert.ok(known.has(name), `${id(workload)}: ${name} is not in README's settings table`);
      assert.deepEqual(container.envFrom, [{ configMapRef: { name: 'mixer-redis' } }], `${id(workload)}: Redis settings from the shape's ConfigMap mixer-redis`);
      const redis = new URL(env.REDIS_URL);
      const svc = byKind('Service').find((s) => s.metadata.name === redis.hostname);
      assert.ok(svc, `${id(workload)}: REDIS_URL host ${redis.hostname} is a Service`);
      assert.ok(svc.spec.ports.some((p: Obj) => p.port === Number(redis.port)), `${id(workload)}: REDIS_URL port ${redis.port}`);
      if (cmd === 'worker') assert.ok(env.REDIS_URL, 'mixer worker needs REDIS_URL');
    }
  });

  it('turns off service links where they would inject a Mixer setting', () => {
    const known = readmeSettings();
    const injected = byKind('Service').flatMap((s) => serviceLinkVars(s.metadata.name, s.spec.ports));
    const clashes = injected.filter((v) => known.has(v));
    // The Service `mixer` injects MIXER_PORT=tcp://10.x.x.x:9091, which Mixer would refuse as a port.
    assert.ok(clashes.includes('MIXER_PORT'), `expected clash not found in ${clashes.join(', ')}`);
    for (const { workload } of mixers) assert.equal(workload.spec.template.spec.enableServiceLinks, false, `${id(workload)}: enableServiceLinks: false (clashes: ${clashes.join(', ')})`);
  });

  it('keeps Redis durable: append-only on a persistent volume, no eviction', () => {
    const [sts] = byKind('StatefulSet');
    const redis = sts.spec.template.spec.containers[0];
    const args = (redis.args ?? []).join(' ');
    assert.match(args, /--appendonly yes/);
    assert.match(args, /--maxmemory-policy noeviction/);
    const claim = (sts.spec.volumeClaimTemplates ?? [])[0];
    assert.ok(claim, 'a PersistentVolumeClaim template');
    assert.ok((redis.volumeMounts ?? []).some((m: Obj) => m.name === claim.metadata.name && m.mountPath === '/data'), 'the claim is mounted at /data');
  });

  describe('the ConfigMap as the kubelet mounts it', () => {
    // A ConfigMap volume is not plain files: each key is a symlink `name -> ..data/name`, `..data` a
    // symlink to a hidden timestamped folder, and an update swaps `..data` atomically.
    let dir: string;
    const rules = readRules(path.join(ROOT, 'rules'));
    const writeVersion = (version: string, files: ReadonlyMap<string, string>): void => {
      mkdirSync(path.join(dir, version));
      for (const [name, text] of files) writeFileSync(path.join(dir, version, name), text);
      symlinkSync(version, path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    };
    const keys = (o: { key: string }[]) => o.map((x) => x.key).sort();

    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-configmap-'));
      writeVersion('..2024_01_01_00_00_00.000000001', rules);
      for (const name of rules.keys()) symlinkSync(path.posix.join('..data', name), path.join(dir, name));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is loaded by Mixer as the same config as rules/', async () => {
      const direct = await loadConfigDir(path.join(ROOT, 'rules'), {});
      assert.deepEqual(direct.errors, []);
      const mounted = await loadConfigDir(dir, {});
      assert.deepEqual(mounted.errors, []);
      assert.deepEqual(keys(mounted.objects), keys(direct.objects), 'every document of rules/, each once (the hidden ..data folders are not read twice)');
    });

    it('is seen updated after the kubelet swaps ..data', async () => {
      const before = await loadConfigDir(dir, {});
      const fewer = new Map([...rules].filter(([name]) => name !== 'graph.yaml'));
      writeVersion('..2024_01_01_00_01_00.000000002', fewer);
      unlinkSync(path.join(dir, 'graph.yaml'));
      const after = await loadConfigDir(dir, {});
      assert.deepEqual(after.errors, []);
      assert.ok(after.objects.length > 0 && after.objects.length < before.objects.length, 'graph.yaml is gone, the rest is still there');
      assert.ok(!after.objects.some((o) => o.source.file.endsWith('graph.yaml')));
    });
  });
});

describe('deploy/kubernetes: the Redis Cluster and Sentinel shapes', () => {
  const known = readmeSettings();
  // What a shape is applied with: every base file but redis.yaml.
  const base = loadManifests().filter((m) => m.file !== 'redis.yaml');

  for (const shape of SHAPES) {
    describe(shape, () => {
      const own = loadManifests(path.join(DIR, shape));
      const objs = [...base, ...own].map((m) => m.obj);
      const ownObjs = own.map((m) => m.obj);
      const byKind = (kind: string): Obj[] => objs.filter((o) => o.kind === kind);
      const workloads = ownObjs.filter(isWorkload);
      const pods = (o: Obj): Obj => o.spec.template;
      const podOwners = ownObjs.filter((o) => isWorkload(o) || o.kind === 'Job');

      it('validates every object with kubernetes-models, in the namespace, with unique names', async () => {
        assert.ok(own.length > 0);
        for (const { file, obj } of own) {
          const Model = await modelClass(obj.apiVersion, obj.kind);
          assert.doesNotThrow(() => new Model(obj).validate(), `${shape}/${file}: ${id(obj)}`);
          assert.equal(obj.metadata.namespace, NAMESPACE, id(obj));
          assert.ok(obj.metadata.labels?.['app.kubernetes.io/name'] && obj.metadata.labels?.['app.kubernetes.io/component'], `${id(obj)}: labels`);
        }
        const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
        assert.equal(new Set(names).size, names.length, 'no object of the shape clashes with a base object');
      });

      it('points Mixer at its Redis through the ConfigMap mixer-redis, with settings README documents', () => {
        const cms = ownObjs.filter((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mixer-redis');
        assert.equal(cms.length, 1, 'the shape has its own mixer-redis');
        const env = cms[0].data as Record<string, string>;
        for (const name of Object.keys(env)) assert.ok(known.has(name), `mixer-redis: ${name} is not in README's settings table`);
        const mode = shape === 'redis-cluster' ? 'MIXER_REDIS_CLUSTER' : 'MIXER_REDIS_SENTINELS';
        assert.deepEqual(
          ['REDIS_URL', 'MIXER_REDIS_CLUSTER', 'MIXER_REDIS_SENTINELS'].filter((k) => env[k]),
          [mode],
          'one Redis mode (Mixer refuses two)',
        );
        const seeds = env[mode].split(',');
        assert.ok(seeds.length >= 3, 'enough seeds to start with one down');
        for (const seed of seeds) {
          // <statefulset>-<i>.<service>:<port>: a pod that exists, by the DNS name its headless Service gives it.
          const m = /^([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):(\d+)$/.exec(seed);
          assert.ok(m, `${mode}: ${seed} is <pod>.<service>:<port>`);
          const sts = workloads.find((w) => w.kind === 'StatefulSet' && w.metadata.name === m[1]);
          assert.ok(sts, `${seed}: StatefulSet ${m[1]}`);
          assert.ok(Number(m[2]) < sts.spec.replicas, `${seed}: pod ${m[2]} of ${sts.spec.replicas}`);
          assert.equal(sts.spec.serviceName, m[3], `${seed}: the StatefulSet's governing Service`);
          const svc = byKind('Service').find((s) => s.metadata.name === m[3]);
          assert.ok(svc?.spec.ports.some((p: Obj) => p.port === Number(m[4])), `${seed}: port ${m[4]} of Service ${m[3]}`);
        }
        if (shape === 'redis-cluster') assert.equal(Number(env.MIXER_QUEUE_SHARDS ?? 6) >= 3, true, 'at least one shard per primary');
        // The base Mixer Deployments take it whole.
        for (const { container } of mixerContainers(base)) assert.equal(fullEnvOf(container, objs)[mode], env[mode]);
      });

      it('gives each StatefulSet a headless Service that publishes not-ready pods, and routes Services to declared ports', () => {
        for (const sts of workloads.filter((w) => w.kind === 'StatefulSet')) {
          const svc = byKind('Service').find((s) => s.metadata.name === sts.spec.serviceName);
          assert.ok(svc, `${id(sts)}: Service ${sts.spec.serviceName}`);
          assert.equal(svc.spec.clusterIP, 'None', `${id(svc)} is headless`);
          // Nodes must find each other by name while none is ready yet (a cluster forming, a replica's primary).
          assert.equal(svc.spec.publishNotReadyAddresses, true, `${id(svc)}: publishNotReadyAddresses`);
          assert.ok(matches(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels), `${id(sts)}: selector matches its pods`);
          const redis = sts.spec.template.spec.containers[0];
          assert.ok(sts.spec.volumeClaimTemplates || shape === 'redis-sentinel', `${id(sts)}: data on volumes`);
          assert.match(redis.image, /^redis:\d+\.\d+\.\d+$/, `${id(sts)}: pinned redis image`);
        }
        for (const svc of ownObjs.filter((o) => o.kind === 'Service')) {
          const selected = workloads.filter((w) => matches(svc.spec.selector, w.spec.template.metadata.labels));
          assert.equal(selected.length, 1, `${id(svc)} selects one workload`);
          for (const p of svc.spec.ports) {
            assert.ok(containerPort(selected[0].spec.template.spec.containers[0], p.targetPort ?? p.port), `${id(svc)}: port ${p.targetPort} is declared`);
          }
        }
        for (const pdb of ownObjs.filter((o) => o.kind === 'PodDisruptionBudget')) {
          const selected = workloads.filter((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels));
          assert.equal(selected.length, 1, `${id(pdb)} selects one workload`);
          assert.equal(pdb.spec.maxUnavailable, 1, `${id(pdb)}: one node down at a time`);
        }
      });

      it('runs scripts, config keys and probes that exist, with requests within limits', () => {
        for (const o of podOwners) {
          const spec = pods(o).spec;
          for (const c of spec.containers) {
            const where = `${id(o)}/${c.name}`;
            const [sh, script] = c.command ?? [];
            assert.equal(sh, 'sh', `${where}: runs a script`);
            const mount = (c.volumeMounts ?? []).find((m: Obj) => script.startsWith(`${m.mountPath}/`));
            assert.ok(mount, `${where}: ${script} is on a mounted volume`);
            const cmName = spec.volumes.find((v: Obj) => v.name === mount.name)?.configMap?.name;
            const cm = byKind('ConfigMap').find((x) => x.metadata.name === cmName);
            const text = cm?.data?.[path.posix.relative(mount.mountPath, script)];
            assert.ok(typeof text === 'string', `${where}: ${script} is a key of ConfigMap ${cmName}`);
            const syntax = spawnSync('sh', ['-n'], { input: text, encoding: 'utf8' });
            assert.equal(syntax.status, 0, `${where}: ${script} parses: ${syntax.stderr}`);
            const volumes = [...spec.volumes, ...(o.spec.volumeClaimTemplates ?? []).map((t: Obj) => t.metadata)].map((v: Obj) => v.name);
            for (const m of c.volumeMounts ?? []) assert.ok(volumes.includes(m.name), `${where}: volume ${m.name}`);
            for (const e of c.env ?? []) {
              const ref = e.valueFrom?.configMapKeyRef;
              if (ref) assert.ok(byKind('ConfigMap').find((x) => x.metadata.name === ref.name)?.data?.[ref.key] !== undefined, `${where}: ${ref.name}.${ref.key}`);
            }
            for (const probe of ['readinessProbe', 'livenessProbe']) {
              if (o.kind === 'Job') continue;
              const cmd: string[] = c[probe]?.exec?.command ?? [];
              assert.equal(cmd[0], 'redis-cli', `${where}: ${probe}`);
              const p = cmd.indexOf('-p');
              assert.ok(containerPort(c, p < 0 ? 6379 : Number(cmd[p + 1])), `${where}: ${probe} asks the port it declares`);
            }
            for (const r of ['cpu', 'memory']) assert.ok(c.resources?.requests?.[r] && c.resources?.limits?.[r], `${where}: ${r} request and limit`);
          }
        }
      });

      if (shape === 'redis-cluster') {
        it('creates the cluster with the compose file\'s script, from all six pods, announcing their DNS names', () => {
          const scripts = byKind('ConfigMap').find((c) => c.metadata.name === 'redis-cluster-scripts')!.data;
          const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Obj> };
          assert.equal(scripts['create.sh'], String(compose.services['redis-cluster-create'].command[2]).replace(/\$\$/g, '$'), 'create.sh = the compose job');
          const job = ownObjs.find((o) => o.kind === 'Job')!;
          const nodes = String(job.spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'CLUSTER_NODES').value).split(/\s+/);
          const sts = workloads.find((w) => w.metadata.name === 'redis-cluster')!;
          assert.equal(sts.spec.replicas, 6);
          assert.deepEqual(nodes, [0, 1, 2, 3, 4, 5].map((i) => `redis-cluster-${i}.${sts.spec.serviceName}:6379`));
          assert.match(scripts['node.sh'], /--cluster-announce-hostname "\$POD_NAME\.redis-cluster\.\$POD_NAMESPACE\.svc" --cluster-preferred-endpoint-type hostname/);
          assert.match(scripts['node.sh'], /--appendonly yes .*--maxmemory-policy noeviction/);
          const bus = byKind('Service').find((s) => s.metadata.name === 'redis-cluster')!.spec.ports.map((p: Obj) => p.port);
          assert.deepEqual(bus.sort(), [16379, 6379], 'the client port and the cluster bus');
        });
      } else {
        it('watches redis-ha-0 at first, under the name Mixer asks for, with a quorum of two Sentinels', () => {
          const scripts = byKind('ConfigMap').find((c) => c.metadata.name === 'redis-sentinel-scripts')!.data;
          assert.match(scripts['sentinel.sh'], /sentinel monitor \$MASTER_NAME \$primary 6379 2/);
          assert.match(scripts['sentinel.sh'], /primary="redis-ha-0\.redis-ha\.\$POD_NAMESPACE\.svc"/);
          assert.match(scripts['data.sh'], /primary="redis-ha-0\.redis-ha\.\$POD_NAMESPACE\.svc"/);
          assert.match(scripts['data.sh'], /--appendonly yes .*--maxmemory-policy noeviction/);
          const sentinels = workloads.find((w) => w.metadata.name === 'redis-sentinel')!;
          assert.equal(sentinels.spec.replicas, 3);
          assert.match(scripts['sentinel.sh'], /for i in 0 1 2;/, 'asks each Sentinel pod');
        });
      }
    });
  }
});
