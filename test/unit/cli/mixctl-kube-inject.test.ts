import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { INJECTED_ANNOTATION, KUBE_INJECT_DEFAULTS, SIDECAR_CONTAINER, kubeInject } from '../../../src/cli/mixctl/kube-inject';
import { CliError } from '../../../src/cli/mixctl/errors';
import { REPO } from '../../support/processes';
import { MIXCTL_BIN, runMixctl } from '../../support/mixctl';

// Parsed manifests are walked as plain data.
type Obj = Record<string, any>;

const DEPLOYMENT = `# Shop backend, v1: the app and its log shipper.
# Applied by CI; do not edit the image by hand.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend-v1
  namespace: shop
  labels: {app: backend, version: 'v1', "team": payments}
  annotations:
    deployment.kubernetes.io/revision: '3'
    example.com/owner: "ops@example.com" # who to call
spec:
  replicas: 0x3
  revisionHistoryLimit: 5
  selector:
    matchLabels: &pod-labels
      app: backend
      version: 'v1'
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 25%}
  template:
    metadata:
      labels:
        <<: *pod-labels
        tier: "api"
      annotations:
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: backend
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: true, fsGroup: 2000}
      containers:
      # The app itself.
      - name: app
        image: "registry.example.com/shop/backend:1.4.2"
        args: ["--port=9001", '--greeting=it''s fine', --verbose]
        ports:
        - name: http
          containerPort: 9001
          protocol: TCP
        - {name: metrics, containerPort: 9090}
        env:
        - name: GREETING
          value: "yes"
        - name: EMPTY
          value: ''
        - name: CONFIG
          value: |
            log_level: debug
            retries: 3
        readinessProbe:
          httpGet: {path: /ready, port: http}
      - name: log-shipper # ships /var/log/app
        image: fluent/fluent-bit:3.1
        volumeMounts:
        - {name: logs, mountPath: /var/log/app, readOnly: true}
      volumes:
      - name: logs
        emptyDir: {}
# The rest of the file is not a workload.
---
apiVersion: v1
kind: Service
metadata:
  name: backend   # the stable name
  namespace: shop
spec:
  selector: {app: backend}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata: {name: backend-config, namespace: shop}
data:
  greeting: >
    folded
    text
`;

const STATEFUL_SET = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ledger, namespace: bank}
spec:
  serviceName: ledger
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger, version: v3}}
    spec:
      containers: [{name: ledger, image: "ledger:3", ports: [{containerPort: 7000}]}]
`;

const CRON_JOB = `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly-report}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: report:1
              ports:
                - containerPort: 8080
`;

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: debug
  labels: {app: toolbox}
spec:
  containers:
    - name: shell
      image: busybox
      ports: [{containerPort: 8000, protocol: UDP}, {containerPort: 8080}]
`;

const docsOf = (text: string): Obj[] => parseAllDocuments(text, { merge: true }).map((d: any) => d.toJS());
const podTemplate = (o: Obj): Obj => (o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template);
const sidecarOf = (o: Obj): Obj =>
  [...(podTemplate(o).spec.containers ?? []), ...(podTemplate(o).spec.initContainers ?? [])].find((c: Obj) => c.name === SIDECAR_CONTAINER);

/** The object without what kube-inject adds: the sidecar container and the annotation (and the maps made to hold them). */
function withoutInjection(o: Obj): Obj {
  const copy = structuredClone(o);
  const tpl = podTemplate(copy);
  for (const key of ['containers', 'initContainers']) {
    if (!tpl.spec[key]) continue;
    tpl.spec[key] = tpl.spec[key].filter((c: Obj) => c.name !== SIDECAR_CONTAINER);
    if (tpl.spec[key].length === 0) delete tpl.spec[key];
  }
  delete tpl.metadata?.annotations?.[INJECTED_ANNOTATION];
  if (tpl.metadata?.annotations && Object.keys(tpl.metadata.annotations).length === 0) delete tpl.metadata.annotations;
  if (tpl.metadata && Object.keys(tpl.metadata).length === 0) delete tpl.metadata;
  return copy;
}

/** The output text without the lines kube-inject adds (the sidecar's list item and the annotation line). */
function withoutAddedLines(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const item = /^( *)- name: mixer-sidecar$/.exec(lines[i]);
    if (item) {
      const indent = item[1].length;
      while (i + 1 < lines.length && /^( *)/.exec(lines[i + 1])![1].length > indent && !/^\s*$/.test(lines[i + 1])) i++;
      continue;
    }
    if (lines[i].trim() !== `${INJECTED_ANNOTATION}: "true"`) out.push(lines[i]);
  }
  return out.join('\n');
}

/** kubernetes-models is ESM only: load one model with a real import() (a TS import() would become require). */
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a TS import() would compile to require(), which ESM-only packages refuse
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, any>>;
async function validateWithModel(o: Obj): Promise<void> {
  const file = path.join(REPO, 'node_modules', 'kubernetes-models', ...o.apiVersion.split('/'), `${o.kind}.js`);
  const Model = (await importEsm(pathToFileURL(file).href))[o.kind] as new (data: Obj) => { validate(): void };
  new Model(o).validate();
}

function refusal(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return err;
  }
  assert.fail('expected a CliError');
}

describe('mixctl kube-inject', () => {
  it('adds the sidecar container and the annotation, and changes nothing else in the data', () => {
    const result = kubeInject(DEPLOYMENT, 'deploy.yaml');
    const before = docsOf(DEPLOYMENT);
    const after = docsOf(result.yaml);
    assert.equal(after.length, 3);
    assert.deepEqual(withoutInjection(after[0]), before[0]);
    assert.deepEqual(after.slice(1), before.slice(1), 'the Service and the ConfigMap pass through');
    assert.equal(podTemplate(after[0]).metadata.annotations[INJECTED_ANNOTATION], 'true');
    assert.deepEqual(
      podTemplate(after[0]).spec.containers.map((c: Obj) => c.name),
      ['app', 'log-shipper', SIDECAR_CONTAINER],
    );
    assert.deepEqual(result.objects, after);
    assert.deepEqual(result.outcomes, [{ object: 'deploy.yaml:3 Deployment/shop/backend-v1', result: 'injected' }]);
  });

  it('keeps the text: comments, quoting, key order and anchors; the only new lines are the sidecar and the annotation', () => {
    const { yaml } = kubeInject(DEPLOYMENT, 'deploy.yaml');
    assert.equal(withoutAddedLines(yaml), DEPLOYMENT);
    for (const kept of [
      '# The app itself.',
      "'--greeting=it''s fine'",
      '<<: *pod-labels',
      'replicas: 0x3',
      '"team": payments',
      'name: backend   # the stable name',
    ])
      assert.ok(yaml.includes(kept), kept);
    // The annotation joins the template's annotations; the sidecar goes last, in the file's list style.
    assert.match(yaml, /\n {6}annotations:\n {8}prometheus\.io\/scrape: "true"\n {8}sidecar\.mixer\.io\/injected: "true"\n/);
    assert.match(yaml, /\n {6}- name: mixer-sidecar\n {8}image: /);
  });

  it('builds the sidecar from the pod: service, namespace, labels, app port, service account; mesh key, Mixer, probe', () => {
    const sidecar = sidecarOf(docsOf(kubeInject(DEPLOYMENT, 'deploy.yaml').yaml)[0]);
    const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(sidecar.image, `mixer:${version}`);
    assert.deepEqual(sidecar.args, [
      'sidecar',
      '--service',
      'backend',
      '--namespace',
      'shop',
      '--labels',
      'app=backend,tier=api,version=v1',
      '--app-port',
      '9001',
      '--inbound-port',
      '15006',
      '--outbound-port',
      '15001',
      '--mixer',
      'http://mixer.mixer.svc:9091',
      '--service-account',
      'backend',
      '--admin-port',
      '15020',
    ]);
    assert.deepEqual(sidecar.env, [
      { name: 'MIXER_MESH_KEY', valueFrom: { secretKeyRef: { name: 'mixer-mesh-key', key: 'key' } } },
      { name: 'MIXER_SIDECAR_HOST', value: '0.0.0.0' },
      { name: 'MIXER_SIDECAR_ADDRESS', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ]);
    assert.deepEqual(sidecar.readinessProbe.httpGet, { path: '/healthz', port: 15020 });
    assert.deepEqual(
      sidecar.ports.map((p: Obj) => p.containerPort),
      [15006, 15020],
    );
    assert.ok(sidecar.resources.requests.cpu && sidecar.resources.limits.memory);
  });

  it('takes the image, Mixer URL, Secret, ports and fail-open from the options', () => {
    const options = {
      image: 'reg.example.com/mixer:9',
      mixerUrl: 'http://mixer.prod.svc:9091',
      meshKeySecret: 'mesh',
      inboundPort: 16006,
      outboundPort: 16001,
      adminPort: 16020,
      failOpen: true,
    };
    const sidecar = sidecarOf(docsOf(kubeInject(STATEFUL_SET, 's.yaml', options).yaml)[0]);
    assert.equal(sidecar.image, options.image);
    assert.equal(sidecar.env[0].valueFrom.secretKeyRef.name, 'mesh');
    const arg = (flag: string): string => sidecar.args[sidecar.args.indexOf(flag) + 1];
    assert.deepEqual([arg('--mixer'), arg('--inbound-port'), arg('--outbound-port'), arg('--admin-port')], [options.mixerUrl, '16006', '16001', '16020']);
    assert.ok(sidecar.args.includes('--fail-open'));
    assert.equal(sidecar.readinessProbe.httpGet.port, 16020);
    assert.equal(refusal(() => kubeInject(POD, 'p.yaml', { adminPort: 15006 })).exitCode, 2);
    assert.equal(refusal(() => kubeInject(POD, 'p.yaml', { mixerUrl: 'mixer:9091' })).exitCode, 2);
  });

  it('with Mixer over https (its CA on) the sidecar gets its workload bootstrap token from mixer-bootstrap-<service account>, not the mesh key', () => {
    const sidecar = sidecarOf(docsOf(kubeInject(DEPLOYMENT, 'deploy.yaml', { mixerUrl: 'https://mixer.mixer.svc:9091' }).yaml)[0]);
    assert.deepEqual(sidecar.env[0], { name: 'MIXER_BOOTSTRAP_TOKEN', valueFrom: { secretKeyRef: { name: 'mixer-bootstrap-backend', key: 'token' } } });
    assert.ok(!sidecar.env.some((e: Obj) => e.name === 'MIXER_MESH_KEY'));
    assert.equal(sidecar.args[sidecar.args.indexOf('--mixer') + 1], 'https://mixer.mixer.svc:9091');
  });

  it('injects a StatefulSet, a CronJob (its jobTemplate) and a Pod; a pod that runs to completion gets a native sidecar', () => {
    const [sts] = docsOf(kubeInject(STATEFUL_SET, 's.yaml').yaml);
    assert.deepEqual(sidecarOf(sts).args.slice(0, 7), ['sidecar', '--service', 'ledger', '--namespace', 'bank', '--labels', 'app=ledger,version=v3']);
    assert.equal(sts.spec.template.spec.containers.length, 2);
    assert.deepEqual(withoutInjection(sts), docsOf(STATEFUL_SET)[0]);

    const [cron] = docsOf(kubeInject(CRON_JOB, 'c.yaml').yaml);
    const tpl = cron.spec.jobTemplate.spec.template;
    assert.deepEqual(
      tpl.spec.containers.map((c: Obj) => c.name),
      ['report'],
      'a Job never ends beside an ordinary sidecar container',
    );
    assert.deepEqual(
      tpl.spec.initContainers.map((c: Obj) => [c.name, c.restartPolicy]),
      [[SIDECAR_CONTAINER, 'Always']],
    );
    assert.deepEqual(sidecarOf(cron).args.slice(0, 5), ['sidecar', '--service', 'nightly-report', '--namespace', 'default']);
    assert.equal(tpl.metadata.annotations[INJECTED_ANNOTATION], 'true');
    assert.deepEqual(withoutInjection(cron), docsOf(CRON_JOB)[0]);

    const [pod] = docsOf(kubeInject(POD, 'p.yaml').yaml);
    const arg = (flag: string): string => sidecarOf(pod).args[sidecarOf(pod).args.indexOf(flag) + 1];
    assert.deepEqual([arg('--service'), arg('--app-port')], ['toolbox', '8080'], 'the first TCP port');
    assert.equal(pod.metadata.annotations[INJECTED_ANNOTATION], 'true');
    assert.deepEqual(withoutInjection(pod), docsOf(POD)[0]);
  });

  it('injects the workloads of a List', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n${[STATEFUL_SET, POD].map((t) => `- ${t.trimEnd().replace(/\n/g, '\n  ')}`).join('\n')}\n`;
    const result = kubeInject(list, 'list.yaml');
    assert.deepEqual(
      result.outcomes.map((x) => x.object),
      ['list.yaml:4 StatefulSet/bank/ledger', 'list.yaml:14 Pod/default/debug'],
    );
    const [out] = docsOf(result.yaml);
    assert.ok(out.items.every((o: Obj) => sidecarOf(o)));
  });

  it('validates the injected objects with kubernetes-models', async () => {
    for (const text of [DEPLOYMENT, STATEFUL_SET, CRON_JOB, POD]) {
      for (const o of docsOf(kubeInject(text, 'x.yaml').yaml)) await validateWithModel(o);
    }
    // The validation bites.
    const [broken] = docsOf(kubeInject(POD, 'p.yaml').yaml);
    sidecarOf(broken).ports[0].containerPort = 'inbound';
    await assert.rejects(validateWithModel(broken), /containerPort/);
  });

  it('is idempotent: injecting twice is injecting once, and says so', () => {
    for (const text of [DEPLOYMENT, CRON_JOB, POD]) {
      const once = kubeInject(text, 'x.yaml');
      const twice = kubeInject(once.yaml, 'x.yaml');
      assert.equal(twice.yaml, once.yaml);
      assert.deepEqual(
        twice.outcomes.map((x) => x.result),
        ['already-injected'],
      );
    }
    // A mixer-sidecar container without the annotation counts as injected too.
    const manual = POD.replace('  containers:\n', '  containers:\n    - {name: mixer-sidecar, image: mixer:custom}\n');
    assert.equal(kubeInject(manual, 'm.yaml').yaml, manual);
  });

  it('refuses, with exit 1, a workload it cannot inject, naming it and why; nothing is printed then', () => {
    const err = refusal(() =>
      kubeInject(
        [
          STATEFUL_SET,
          'kind: Deployment\nmetadata: {name: empty}\nspec:\n  template:\n    spec:\n      containers: []\n',
          'kind: Pod\nmetadata: {name: portless, labels: {app: x}}\nspec:\n  containers: [{name: a}]\n',
          'kind: Pod\nmetadata: {name: clash}\nspec:\n  containers: [{name: a, ports: [{containerPort: 15001}]}]\n',
          'kind: DaemonSet\nmetadata: {name: agent}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers: [{name: a, ports: [{containerPort: 80}]}]\n',
        ].join('---\n'),
        'bad.yaml',
      ),
    );
    assert.equal(err.exitCode, 1);
    assert.match(err.message, /bad\.yaml: cannot inject 4 workload\(s\)/);
    assert.match(err.lines[0], /bad\.yaml:12 Deployment\/default\/empty: spec\.template\.spec\.containers: no containers/);
    assert.match(err.lines[1], /bad\.yaml:19 Pod\/default\/portless: .*containerPort/);
    assert.match(err.lines[2], /Pod\/default\/clash: container a uses port 15001, the sidecar's outbound port/);
    assert.match(err.lines[3], /DaemonSet\/default\/agent: spec\.template\.spec\.hostNetwork is true/);
    // An edit through an alias, or to a node shared through an anchor, would change more than the workload.
    const shared = 'kind: Pod\nmetadata: {name: p}\nspec:\n  containers: &c [{name: a, ports: [{containerPort: 80}]}]\n  x-copy: *c\n';
    assert.match(refusal(() => kubeInject(shared, 's.yaml')).lines[0], /spec\.containers is anchored \(&c\) and used elsewhere/);
    const aliased =
      'x-pod: &t\n  spec: {containers: [{name: a, ports: [{containerPort: 80}]}]}\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template: *t\n';
    assert.match(refusal(() => kubeInject(aliased, 'a.yaml')).lines[0], /spec\.template is an alias \(\*t\): write it out/);
  });

  it('rejects a file that is not YAML with exit 2 and the line', () => {
    const err = refusal(() => kubeInject(`${POD}---\nkind: Service\nmetadata: {name: x\nspec: {}\n`, 'broken.yaml'));
    assert.equal(err.exitCode, 2);
    assert.match(err.lines.join('\n'), /broken\.yaml:1[3-5]:\d+ /);
    assert.equal(refusal(() => kubeInject('# nothing here\n', 'empty.yaml')).exitCode, 2);
  });

  describe('as a process (node bin/mixctl.js)', () => {
    let dir: string;
    before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'mixctl-kube-inject-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('prints the injected YAML from -f file (ignoring MIXER_URL), -o json, and --mixer', async () => {
      const file = path.join(dir, 'deploy.yaml');
      writeFileSync(file, DEPLOYMENT);
      const run = await runMixctl(['kube-inject', '-f', file], { MIXER_URL: 'http://127.0.0.1:1' });
      assert.equal(run.code, 0, run.output);
      assert.equal(run.stdout, kubeInject(DEPLOYMENT, file).yaml);
      const json = await runMixctl(['kube-inject', '-f', file, '-o', 'json', '--mixer', 'http://mixer.prod.svc:9091', '--image', 'mixer:test']);
      assert.equal(json.code, 0, json.output);
      const list = JSON.parse(json.stdout) as Obj;
      assert.deepEqual([list.kind, list.items.length], ['List', 3]);
      assert.equal(sidecarOf(list.items[0]).image, 'mixer:test');
      assert.ok(sidecarOf(list.items[0]).args.includes('http://mixer.prod.svc:9091'));
    });

    it('reads stdin with -f -, and names an already injected workload on stderr', async () => {
      const once = kubeInject(STATEFUL_SET, 'stdin').yaml;
      const child = spawn(process.execPath, [MIXCTL_BIN, 'kube-inject', '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(once);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.equal(stdout, once);
      assert.match(stderr, /stdin:1 StatefulSet\/bank\/ledger: already injected/);
    });

    it('exits 2 with the line for bad YAML and 1 for a workload it cannot inject', async () => {
      const bad = path.join(dir, 'bad.yaml');
      writeFileSync(bad, 'kind: Pod\nmetadata:\n  name: [x\nspec: {}\n');
      const run = await runMixctl(['kube-inject', '-f', bad]);
      assert.equal(run.code, 2, run.output);
      assert.match(run.output, /bad\.yaml:\d+:\d+ /);
      assert.equal(run.stdout, '');
      const empty = path.join(dir, 'empty.yaml');
      writeFileSync(empty, 'kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n');
      const refused = await runMixctl(['kube-inject', '-f', empty]);
      assert.equal(refused.code, 1, refused.output);
      assert.match(refused.output, /empty\.yaml:1 Pod\/default\/p: spec\.containers: no containers/);
      assert.equal(refused.stdout, '');
    });
  });
});

// The defaults the docs promise.
describe('mixctl kube-inject defaults', () => {
  it('reach Mixer at the Service of deploy/kubernetes/ and read the mesh key from mixer-mesh-key', () => {
    assert.equal(KUBE_INJECT_DEFAULTS.mixerUrl, 'http://mixer.mixer.svc:9091');
    const mixerYaml = readFileSync(path.join(REPO, 'deploy', 'kubernetes', 'mixer.yaml'), 'utf8');
    const service = docsOf(mixerYaml).find((o) => o.kind === 'Service');
    assert.deepEqual([service?.metadata.name, service?.metadata.namespace, service?.spec.ports[0].port], ['mixer', 'mixer', 9091]);
    assert.equal(KUBE_INJECT_DEFAULTS.meshKeySecret, 'mixer-mesh-key');
  });
});
