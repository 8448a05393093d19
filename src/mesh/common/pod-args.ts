/**
 * From a Kubernetes pod (or a Deployment's pod template) to the `mixer sidecar` arguments that
 * proxy it: what `mixctl kube-inject` puts in the sidecar container it adds.
 */

/** The parts of a pod (or pod template) this reads; a `kubernetes-models` Pod fits. */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    serviceAccountName?: string;
    containers?: Array<{ name?: string; ports?: Array<{ containerPort?: number; protocol?: string }> }>;
  };
}

/** Choices that are not in the pod. */
export interface SidecarArgsOptions {
  /** Mixer's URL as the pod reaches it (default `http://mixer.istio-system:9091`). */
  mixerUrl?: string;
  /** Default 15006. */
  inboundPort?: number;
  /** Default 15001. */
  outboundPort?: number;
  /** Status page port; default none. */
  adminPort?: number;
  /** Overrides the service name (default: annotation `sidecar.mixer.io/service`, else label `app`, else the pod name). */
  service?: string;
  failOpen?: boolean;
}

/** Annotation naming the app's port when the pod declares several. */
export const APP_PORT_ANNOTATION = 'sidecar.mixer.io/app-port';
/** Annotation naming the service when it differs from the `app` label. */
export const SERVICE_ANNOTATION = 'sidecar.mixer.io/service';

/**
 * The arguments of `mixer sidecar` (starting with `sidecar`) for `pod`:
 * - `--service`: `options.service`, else annotation `sidecar.mixer.io/service`, else label `app`,
 *   else the pod name;
 * - `--namespace`: the pod's, default `default`;
 * - `--labels`: every pod label (sorted), so route rules and policies can select by any of them;
 * - `--app-port`: annotation `sidecar.mixer.io/app-port`, else the first TCP `containerPort` of the
 *   first container that declares one;
 * - `--service-account`: `spec.serviceAccountName` when set;
 * - `--inbound-port`, `--outbound-port`, `--mixer`, and `--admin-port`/`--fail-open` when asked.
 * The container also needs `MIXER_MESH_KEY` in its environment (from a Secret); that is not an argument.
 *
 * @throws Error when no service name or app port can be found.
 */
export function sidecarArgsFromPod(pod: PodLike, options: SidecarArgsOptions = {}): string[] {
  const meta = pod.metadata ?? {};
  const labels = meta.labels ?? {};
  const service = options.service ?? meta.annotations?.[SERVICE_ANNOTATION] ?? labels.app ?? meta.name;
  if (!service) throw new Error('cannot tell the service of this pod: give it an app label, a sidecar.mixer.io/service annotation, or a name');
  let appPort: number | undefined;
  const annotated = meta.annotations?.[APP_PORT_ANNOTATION];
  if (annotated !== undefined) {
    appPort = Number(annotated);
    if (!Number.isInteger(appPort) || appPort < 1 || appPort > 65535)
      throw new Error(`annotation ${APP_PORT_ANNOTATION} must be a port number, got ${JSON.stringify(annotated)}`);
  } else {
    for (const c of pod.spec?.containers ?? []) {
      const p = c.ports?.find((x) => x.containerPort !== undefined && (x.protocol ?? 'TCP') === 'TCP');
      if (p) {
        appPort = p.containerPort;
        break;
      }
    }
  }
  if (appPort === undefined) throw new Error(`cannot tell the app's port: declare a containerPort or annotate the pod with ${APP_PORT_ANNOTATION}`);
  const labelText = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
  const args = ['sidecar', '--service', service, '--namespace', meta.namespace ?? 'default'];
  if (labelText) args.push('--labels', labelText);
  args.push('--app-port', String(appPort), '--inbound-port', String(options.inboundPort ?? 15006), '--outbound-port', String(options.outboundPort ?? 15001));
  args.push('--mixer', options.mixerUrl ?? 'http://mixer.istio-system:9091');
  if (pod.spec?.serviceAccountName) args.push('--service-account', pod.spec.serviceAccountName);
  if (options.adminPort !== undefined) args.push('--admin-port', String(options.adminPort));
  if (options.failOpen) args.push('--fail-open');
  return args;
}
