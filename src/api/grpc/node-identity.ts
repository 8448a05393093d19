/**
 * The workload an Envoy speaks for, from its `Node` (sent once per ALS stream): Istio's node id
 * `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`, Istio's node metadata (`NAME`,
 * `NAMESPACE`, `LABELS`, `WORKLOAD_NAME`, `INSTANCE_IPS`), and `node.cluster` as the app otherwise.
 */
import type { ProtoStruct, ProtoValue } from './authz-attributes';

/** envoy.config.core.v3.Node as loaded. */
export interface ProtoNode {
  id?: string;
  cluster?: string;
  metadata?: ProtoStruct;
  user_agent_version?: string;
}

/** What Mixer knows of the reporting workload. */
export interface Workload {
  /** Pod (or instance) name. */
  name?: string;
  namespace?: string;
  workloadName?: string;
  ip?: string;
  labels: Record<string, string>;
  /** Istio's node id, as `context.reporter.uid` (`kubernetes://<pod>.<namespace>`). */
  uid?: string;
  proxyVersion?: string;
  /** The proxy's own SPIFFE id: set from its verified client certificate when the gRPC port runs mutual TLS, never from the node. */
  principal?: string;
}

function str(v: ProtoValue | undefined): string | undefined {
  return typeof v?.stringValue === 'string' && v.stringValue !== '' ? v.stringValue : undefined;
}

/** The workload behind a node. Never throws: a node Mixer cannot read is an empty workload. */
export function workloadOfNode(node: ProtoNode | undefined): Workload {
  const w: Workload = { labels: {} };
  if (!node) return w;
  const parts = (node.id ?? '').split('~');
  if (parts.length === 4 && (parts[0] === 'sidecar' || parts[0] === 'router')) {
    if (parts[1]) w.ip = parts[1];
    const dot = parts[2].lastIndexOf('.');
    if (dot > 0) {
      w.name = parts[2].slice(0, dot);
      w.namespace = parts[2].slice(dot + 1);
    } else if (parts[2]) w.name = parts[2];
  }
  const md = node.metadata?.fields ?? {};
  w.name = str(md.NAME) ?? w.name;
  w.namespace = str(md.NAMESPACE) ?? w.namespace;
  w.workloadName = str(md.WORKLOAD_NAME);
  const ips = str(md.INSTANCE_IPS);
  if (ips) w.ip = ips.split(',')[0];
  for (const [k, v] of Object.entries(md.LABELS?.structValue?.fields ?? {})) {
    const s = str(v);
    if (s !== undefined) w.labels[k] = s;
  }
  if (w.labels.app === undefined && node.cluster) {
    // Istio 1.4 sets cluster to `<app>.<namespace>`; plain Envoy to whatever the operator chose.
    const app = w.namespace && node.cluster.endsWith(`.${w.namespace}`) ? node.cluster.slice(0, -w.namespace.length - 1) : node.cluster;
    if (app) w.labels.app = app;
  }
  if (w.workloadName === undefined && w.name !== undefined) w.workloadName = deploymentOf(w.name, w.labels);
  if (w.name && w.namespace) w.uid = `kubernetes://${w.name}.${w.namespace}`;
  w.proxyVersion = str(md.ISTIO_VERSION) ?? node.user_agent_version;
  return w;
}

/** A Deployment's pod `reviews-v1-6b8c9c5d8f-x2x7q` → `reviews-v1`; any other name as it is. */
function deploymentOf(pod: string, labels: Record<string, string>): string {
  const hash = labels['pod-template-hash'];
  if (hash && pod.includes(`-${hash}-`)) return pod.slice(0, pod.indexOf(`-${hash}-`));
  const m = /^(.+)-[a-z0-9]{8,10}-[a-z0-9]{5}$/.exec(pod);
  return m ? m[1] : pod;
}
