import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit } from 'yaml';
import type { Document, ToStringOptions, YAMLMap } from 'yaml';
import { sidecarArgsFromPod } from '../../mesh/common/pod-args';
import type { PodLike } from '../../mesh/common/pod-args';
import { CliError, EXIT, usageError } from './errors';
import { readFileText } from './documents';
import { toJson, writeErr, writeOut } from './output';
import type { OutputFormat } from './output';

/** Annotation `kube-inject` puts on the pod (template) it adds the sidecar to; a workload carrying it is left alone. */
export const INJECTED_ANNOTATION = 'sidecar.mixer.io/injected';
/** Name of the added container. */
export const SIDECAR_CONTAINER = 'mixer-sidecar';
/** Key of the mesh key in its Secret. */
export const MESH_KEY_SECRET_KEY = 'key';
/**
 * With Mixer's CA on (an https Mixer URL) a sidecar gets no mesh key: only its workload's bootstrap
 * token, from Secret `<prefix><service account>` (key `token`; `mixctl ca token` writes it).
 */
export const BOOTSTRAP_SECRET_PREFIX = 'mixer-bootstrap-';

/** Where each workload kind keeps its pod template (`[]`: the Pod is its own template). */
export const POD_TEMPLATE_PATHS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ['Pod', []],
  ['CronJob', ['spec', 'jobTemplate', 'spec', 'template']],
  ...['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'].map((kind): [string, readonly string[]] => [
    kind,
    ['spec', 'template'],
  ]),
]);

/** The choices of `mixctl kube-inject` that are not in the workload. */
export interface KubeInjectOptions {
  /** Sidecar image; default `mixer:<this mixctl's version>`, the tag docs/deploy.md builds. */
  image: string;
  /** Mixer's URL as pods reach it; default `http://mixer.mixer.svc:9091` (Service `mixer`, namespace `mixer`: deploy/kubernetes/). */
  mixerUrl: string;
  /** Secret (in the workload's namespace) holding the mesh key under key `key`; default `mixer-mesh-key`. */
  meshKeySecret: string;
  /** Sidecar ports: inbound 15006, outbound 15001, admin (status page and readiness probe) 15020. */
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  /** Let requests through when Mixer cannot be asked (default false: fail closed). */
  failOpen: boolean;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'latest';
  } catch {
    return 'latest';
  }
}

/** The defaults of {@link KubeInjectOptions}. */
export const KUBE_INJECT_DEFAULTS: Readonly<KubeInjectOptions> = Object.freeze({
  image: `mixer:${packageVersion()}`,
  mixerUrl: 'http://mixer.mixer.svc:9091',
  meshKeySecret: 'mixer-mesh-key',
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15020,
  failOpen: false,
});

/** What happened to one workload. */
export interface InjectOutcome {
  /** `file:line Kind/namespace/name`. */
  object: string;
  result: 'injected' | 'already-injected';
}

/** The output of {@link kubeInject}. */
export interface KubeInjectResult {
  /** The YAML stream with the sidecars added; documents left unchanged are copied byte for byte. */
  yaml: string;
  /** Every non-empty document as data, after injection. */
  objects: unknown[];
  /** One per workload found, in file order. */
  outcomes: InjectOutcome[];
}

type Obj = Record<string, unknown>;
type Key = string | number;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objAt = (v: unknown, keys: readonly string[]): Obj | undefined => keys.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), v) as Obj | undefined;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A workload this cannot inject, and why. */
class Refusal extends Error {}

/** The service account in sidecar arguments (`--service-account`, else the service: the sidecar's default). */
function serviceAccountOf(args: readonly string[]): string {
  const at = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  return at('--service-account') ?? at('--service') ?? 'default';
}

/**
 * The container `kube-inject` adds: `mixer sidecar <args>`, the mesh key from the Secret, the inbound and
 * admin ports listening on all addresses (the outbound port stays on 127.0.0.1, the sidecar's default:
 * only the pod's own app may send with its identity), registering the pod IP, the inbound and admin
 * ports declared, a readiness probe on the admin port's `/healthz`, resources and a locked-down
 * security context. `native` makes it a Kubernetes native sidecar (an init container with
 * `restartPolicy: Always`, Kubernetes 1.29+).
 */
export function sidecarContainer(args: readonly string[], o: KubeInjectOptions, native = false): Obj {
  return {
    name: SIDECAR_CONTAINER,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    ...(native ? { restartPolicy: 'Always' } : {}),
    args: [...args],
    env: [
      o.mixerUrl.startsWith('https:')
        ? { name: 'MIXER_BOOTSTRAP_TOKEN', valueFrom: { secretKeyRef: { name: `${BOOTSTRAP_SECRET_PREFIX}${serviceAccountOf(args)}`, key: 'token' } } }
        : { name: 'MIXER_MESH_KEY', valueFrom: { secretKeyRef: { name: o.meshKeySecret, key: MESH_KEY_SECRET_KEY } } },
      { name: 'MIXER_SIDECAR_HOST', value: '0.0.0.0' },
      { name: 'MIXER_SIDECAR_ADDRESS', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    ports: [
      { name: 'mixer-inbound', containerPort: o.inboundPort },
      { name: 'mixer-admin', containerPort: o.adminPort },
    ],
    readinessProbe: { httpGet: { path: '/healthz', port: o.adminPort }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** The node at `keys` under `doc`'s root (undefined when absent); a path through an alias is refused. */
function nodeAt(doc: Document, keys: readonly Key[]): unknown {
  let node: unknown = doc.contents;
  for (let i = 0; i <= keys.length; i++) {
    if (isAlias(node)) throw new Refusal(`${keys.slice(0, i).join('.') || 'the document'} is an alias (*${node.source}): write it out to inject`);
    if (i === keys.length || !(isMap(node) || isSeq(node))) return i === keys.length ? node : undefined;
    node = node.get(keys[i], true);
  }
  return node;
}

/** The map at `keys`, which the data says is there; refused when it is not written out in the document (a `<<` merge). */
function mapAt(doc: Document, keys: readonly Key[]): YAMLMap {
  const node = nodeAt(doc, keys);
  if (!isMap(node)) throw new Refusal(`${keys.join('.')} is not written out in the document (a << merge?): write it out to inject`);
  return node;
}

/** `node`, refused when it is anchored and used elsewhere in the document (an edit would show there too). */
function own<T>(doc: Document, node: T, where: string): T {
  const anchor = (node as { anchor?: string } | undefined)?.anchor;
  let used = false;
  if (anchor) visit(doc, { Alias: (_, a) => void (used ||= a.source === anchor) });
  if (used) throw new Refusal(`${where} is anchored (&${anchor}) and used elsewhere (*${anchor}): write it out to inject`);
  return node;
}

/** The map under `key` of `parent` (`where` names it), created when absent or null (before the key `before`, if any). */
function childMap(doc: Document, parent: YAMLMap, key: string, where: string, before?: string): YAMLMap {
  const node = parent.get(key, true);
  if (isMap(node)) return own(doc, node, where);
  if (node !== undefined && !(isScalar(node) && node.value === null))
    throw new Refusal(`${where} is not a map${isAlias(node) ? ' (an alias): write it out to inject' : ''}`);
  const made = doc.createNode({}) as YAMLMap;
  if (node !== undefined) parent.set(doc.createNode(key), made);
  else {
    const at = parent.items.findIndex((p) => (isScalar(p.key) ? p.key.value : p.key) === before);
    parent.items.splice(at < 0 ? parent.items.length : at, 0, doc.createPair(key, made));
  }
  return made;
}

/** Adds the sidecar to the workload at `base` of `doc` (`workload` is its data), or says it is already there. */
function injectWorkload(doc: Document, base: readonly Key[], workload: Obj, o: KubeInjectOptions): InjectOutcome['result'] {
  const rel = POD_TEMPLATE_PATHS.get(workload.kind as string)!;
  const at = (...k: string[]): string => [...rel, ...k].join('.');
  const tpl = rel.length === 0 ? workload : objAt(workload, rel);
  const spec = objAt(tpl, ['spec']);
  if (!spec) throw new Refusal(`${at('spec')} is missing: no pod to inject`);
  const tmeta = objAt(tpl, ['metadata']) ?? {};
  const annotations = objAt(tmeta, ['annotations']) ?? {};
  const containers = list(spec.containers);
  const all = [...containers, ...list(spec.initContainers)];
  if (annotations[INJECTED_ANNOTATION] !== undefined || all.some((c) => c.name === SIDECAR_CONTAINER)) return 'already-injected';
  if (containers.length === 0) throw new Refusal(`${at('spec', 'containers')}: no containers, so no app for the sidecar to proxy`);
  if (spec.hostNetwork === true) throw new Refusal(`${at('spec', 'hostNetwork')} is true: the sidecar's ports would be the node's, shared by every such pod`);
  const mine: Array<[string, number]> = [
    ['inbound', o.inboundPort],
    ['outbound', o.outboundPort],
    ['admin', o.adminPort],
  ];
  for (const c of all) {
    for (const p of list(c.ports)) {
      const clash = mine.find(([, port]) => port === p.containerPort);
      if (clash) throw new Refusal(`container ${String(c.name)} uses port ${clash[1]}, the sidecar's ${clash[0]} port: choose another with --${clash[0]}-port`);
    }
  }
  const labels = objAt(tmeta, ['labels']) ?? {};
  for (const [k, v] of Object.entries(labels))
    if (typeof v !== 'string') throw new Refusal(`${at('metadata', 'labels', k)}: ${JSON.stringify(v)} is not a string (quote it)`);
  const meta = objAt(workload, ['metadata']) ?? {};
  const pod: PodLike = {
    metadata: {
      name: meta.name as string | undefined,
      namespace: (meta.namespace as string | undefined) ?? 'default',
      labels: labels as Record<string, string>,
      annotations: annotations as Record<string, string>,
    },
    spec: { serviceAccountName: spec.serviceAccountName as string | undefined, containers: containers },
  };
  let args: string[];
  try {
    args = sidecarArgsFromPod(pod, {
      mixerUrl: o.mixerUrl,
      inboundPort: o.inboundPort,
      outboundPort: o.outboundPort,
      adminPort: o.adminPort,
      failOpen: o.failOpen,
    });
  } catch (err) {
    throw new Refusal((err as Error).message);
  }
  const service = args[args.indexOf('--service') + 1];
  if (!DNS_LABEL.test(service))
    throw new Refusal(`service name ${JSON.stringify(service)} is not a DNS-1123 label: set label app or annotation sidecar.mixer.io/service`);
  // A pod that runs to completion (every Job) would never finish beside an ordinary sidecar container.
  const native = spec.restartPolicy === 'Never' || spec.restartPolicy === 'OnFailure';
  const tplKeys = [...base, ...rel];
  const specNode = mapAt(doc, [...tplKeys, 'spec']);
  const listKey = native ? 'initContainers' : 'containers';
  const seq = own(doc, specNode.get(listKey, true), at('spec', listKey));
  const added = doc.createNode(sidecarContainer(args, o, native));
  if (isSeq(seq)) {
    // A flow list (`containers: [{...}]`) becomes a block list, its items kept as written, so the sidecar is readable.
    if (seq.flow) for (const item of seq.items) if (isMap(item) || isSeq(item)) item.flow = true;
    seq.flow = false;
    seq.add(added);
  } else if (seq === undefined || (isScalar(seq) && seq.value === null)) specNode.set(doc.createNode(listKey), doc.createNode([added]));
  else throw new Refusal(`${at('spec', listKey)} is not a list${isAlias(seq) ? ' (an alias): write it out to inject' : ''}`);
  const metaNode = childMap(doc, own(doc, mapAt(doc, tplKeys), rel.join('.') || 'the pod'), 'metadata', at('metadata'), 'spec');
  childMap(doc, metaNode, 'annotations', at('metadata', 'annotations')).set(doc.createNode(INJECTED_ANNOTATION), doc.createNode('true'));
  return 'injected';
}

/** How the document is written (sequence indentation, indent, flow padding), so edits match it. */
function styleOf(source: string): ToStringOptions {
  const indent = /^[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n( +)[^\s-]/m.exec(source)?.[1].length ?? 2;
  return {
    lineWidth: 0,
    indent: Math.min(Math.max(indent, 1), 8),
    indentSeq: !/^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n\1- /m.test(source),
    flowCollectionPadding: /[:-] [{[] \S/.test(source) || !/[:-] [{[][^\s}\]]/.test(source),
  };
}

/** `doc` as YAML in the style of `source`; a trailing comment keeps its place (yaml puts a blank line before it). */
function render(doc: Document, source: string): string {
  const text = doc.toString(styleOf(source));
  const comment = doc.comment && !doc.directives?.docEnd ? `${doc.comment.replace(/^(?!$)(?: $)?/gm, '#')}\n` : undefined;
  if (comment && text.endsWith(`\n\n${comment}`) && !source.replace(/\r\n/g, '\n').includes(`\n\n${comment}`))
    return text.slice(0, -comment.length - 1) + comment;
  return text;
}

/**
 * `istioctl kube-inject` for Mixer's sidecar: the YAML stream `text` with a `mixer-sidecar` container
 * added to every Pod and every workload with a pod template (Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController, Job, CronJob, also inside a `List`), its arguments from
 * {@link sidecarArgsFromPod}, and the pod (template) annotated {@link INJECTED_ANNOTATION}.
 * The documents are edited as YAML, so comments, key order, quoting and anchors survive; other
 * documents are copied byte for byte. A workload already injected is left as it is.
 * @throws CliError exit 2 (with each `file:line:column`) when the text is not valid YAML or holds no
 * document; exit 1 naming every workload that cannot be injected, and why (nothing is printed then).
 */
export function kubeInject(text: string, file: string, options: Partial<KubeInjectOptions> = {}): KubeInjectResult {
  const o: KubeInjectOptions = { ...KUBE_INJECT_DEFAULTS, ...options };
  if (!/^https?:\/\/[^/\s]+/.test(o.mixerUrl)) throw usageError(`--mixer: ${JSON.stringify(o.mixerUrl)} is not an http(s) URL`);
  if (new Set([o.inboundPort, o.outboundPort, o.adminPort]).size < 3)
    throw usageError(`the sidecar's inbound, outbound and admin ports must differ (${o.inboundPort}, ${o.outboundPort}, ${o.adminPort})`);
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, merge: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  const bad = docs.flatMap((d) =>
    d.errors.map(
      (e) => `  ${file}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'} ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
    ),
  );
  if (bad.length > 0) throw usageError(`${file}: not valid YAML, ${bad.length} problem(s):`, bad);
  if (docs.every((d) => d.contents === null)) throw usageError(`${file}: no documents in the file`);
  const out: string[] = [];
  const objects: unknown[] = [];
  const outcomes: InjectOutcome[] = [];
  const problems: string[] = [];
  docs.forEach((doc, i) => {
    const source = text.slice(i === 0 ? 0 : doc.range[0], i + 1 < docs.length ? docs[i + 1].range[0] : text.length);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw usageError(`${file}:${lines.linePos(doc.range[0]).line}: ${(err as Error).message}`);
    }
    const targets: Array<{ base: Key[]; obj: Obj }> = [];
    if (isObj(value) && POD_TEMPLATE_PATHS.has(value.kind as string)) targets.push({ base: [], obj: value });
    else if (isObj(value) && value.kind === 'List')
      list(value.items).forEach((obj, j) => POD_TEMPLATE_PATHS.has(obj.kind as string) && targets.push({ base: ['items', j], obj }));
    let changed = false;
    for (const { base, obj } of targets) {
      const node = base.length === 0 ? doc.contents : (doc.getIn(base, true) as { range?: [number, number, number] } | undefined);
      const meta = objAt(obj, ['metadata']) ?? {};
      const object = `${file}:${lines.linePos(node?.range?.[0] ?? doc.range[0]).line} ${String(obj.kind)}/${String(meta.namespace ?? 'default')}/${String(meta.name ?? '?')}`;
      try {
        const result = injectWorkload(doc, base, obj, o);
        changed ||= result === 'injected';
        outcomes.push({ object, result });
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        problems.push(`  ${object}: ${err.message}`);
      }
    }
    const edited = changed ? render(doc, source) : source;
    out.push(changed && source.includes('\r\n') ? edited.replace(/\r?\n/g, '\r\n') : edited);
    if (doc.contents !== null) objects.push(changed ? doc.toJS({ maxAliasCount: 100 }) : value);
  });
  if (problems.length > 0) throw new CliError(EXIT.ERROR, `${file}: cannot inject ${problems.length} workload(s):`, problems);
  return { yaml: out.join(''), objects, outcomes };
}

/**
 * `mixctl kube-inject -f file` (`-` is stdin): prints {@link kubeInject}'s YAML (or, with `-o json`, the
 * one object, or a `v1 List` of several). Workloads already injected are named on stderr.
 */
export async function kubeInjectCommand(format: OutputFormat, file: string, options: Partial<KubeInjectOptions> = {}): Promise<void> {
  const name = file === '-' ? 'stdin' : file;
  const result = kubeInject(await readFileText(file), name, options);
  for (const x of result.outcomes)
    if (x.result === 'already-injected')
      writeErr(`${x.object}: already injected (annotation ${INJECTED_ANNOTATION} or a ${SIDECAR_CONTAINER} container): left unchanged`);
  if (result.outcomes.length === 0) writeErr(`${name}: no Pod or workload with a pod template: printed unchanged`);
  if (format === 'json') writeOut(toJson(result.objects.length === 1 ? result.objects[0] : { apiVersion: 'v1', kind: 'List', items: result.objects }));
  else writeOut(result.yaml);
}
