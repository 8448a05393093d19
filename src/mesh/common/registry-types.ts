import type { ErrorDetail } from '../../base/errors';

/** One running instance of a service, as a sidecar registers it. */
export interface ServiceInstance {
  /** Unique per instance (the pod name, in Kubernetes terms). */
  id: string;
  service: string;
  namespace: string;
  /** Workload name, e.g. `backend-v1`. */
  workload: string;
  labels: Readonly<Record<string, string>>;
  /** `host:port` of the instance's sidecar inbound port: where callers send its traffic. */
  address: string;
  /** Identity the instance runs as (`spiffe://...`). */
  principal: string;
}

/**
 * Where instances are kept on Mixer's side: in memory, or in Redis so every Mixer replica answers
 * the same. Entries expire `ttlMs` after their last heartbeat.
 */
export interface RegistryStore {
  heartbeat(instance: ServiceInstance, ttlMs: number): Promise<void>;
  /** Removes an instance at once (a sidecar shutting down). */
  leave(namespace: string, service: string, id: string): Promise<void>;
  /** Live instances of a service, sorted by id. */
  list(namespace: string, service: string): Promise<ServiceInstance[]>;
}

/**
 * Where a proxy finds the instances of a service. The Mixer registry (`RegistryClient`) is one
 * source; this is the seam where Kubernetes Endpoints would plug in (watch the Endpoints of the
 * service, map each ready address plus the pod's labels to a {@link ServiceInstance}).
 */
export interface EndpointSource {
  resolve(namespace: string, service: string): Promise<readonly ServiceInstance[]>;
  /** What is known now without waiting (undefined: ask `resolve`); lets the hot path skip a promise. */
  cached?(namespace: string, service: string): readonly ServiceInstance[] | undefined;
  close?(): Promise<void> | void;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ID = /^[A-Za-z0-9][-A-Za-z0-9_.]{0,252}$/;
const ADDRESS = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;
const MAX_LABELS = 64;

/** Checks an instance sent by a sidecar; returns it (labels copied) or every problem found. */
export function decodeInstance(raw: unknown, where = 'instance'): { instance?: ServiceInstance; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { errors: [{ field: where, reason: 'must be an object' }] };
  const r = raw as Record<string, unknown>;
  const str = (k: string, re: RegExp, what: string): string => {
    const v = r[k];
    if (typeof v !== 'string' || !re.test(v)) errors.push({ field: `${where}.${k}`, reason: `must be ${what}` });
    return typeof v === 'string' ? v : '';
  };
  const instance: ServiceInstance = {
    id: str('id', ID, 'an instance id (letters, digits, - _ .)'),
    service: str('service', NAME, 'a DNS-1123 label'),
    namespace: str('namespace', NAME, 'a DNS-1123 label'),
    workload: str('workload', ID, 'a workload name'),
    address: str('address', ADDRESS, 'host:port'),
    principal: str('principal', /^[\x21-\x7e]{1,512}$/, 'printable text'),
    labels: {},
  };
  const labels = r.labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) errors.push({ field: `${where}.labels`, reason: 'must be an object of strings' });
  else {
    const entries = Object.entries(labels as Record<string, unknown>);
    if (entries.length > MAX_LABELS) errors.push({ field: `${where}.labels`, reason: `at most ${MAX_LABELS} labels` });
    const out: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || k.length > 253 || v.length > 253)
        errors.push({ field: `${where}.labels.${k}`, reason: 'must be text of at most 253 characters' });
      else out[k] = v;
    }
    instance.labels = out;
  }
  for (const k of Object.keys(r))
    if (!['id', 'service', 'namespace', 'workload', 'address', 'principal', 'labels'].includes(k))
      errors.push({ field: `${where}.${k}`, reason: 'unknown field' });
  return errors.length > 0 ? { errors } : { instance, errors };
}
