/**
 * What the check bench loads: a config of N rules over a mesh of 100 services, and request bodies
 * (~1 KB attribute bags) whose expected verdicts are worked out here, independently of Mixer, so the
 * bench can tell a fast wrong answer from a fast right one.
 */
import { stringify } from 'yaml';

/** google.rpc codes the generated config can answer with. */
export const OK = 0;
export const PERMISSION_DENIED = 7;
export const NOT_FOUND = 5;
export const FAILED_PRECONDITION = 9;

/** A small deterministic generator (32-bit LCG), so every run loads the same config and bodies. */
export class Rand {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  hex(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
}

const DOMAINS = [
  'cart',
  'checkout',
  'payment',
  'ledger',
  'invoice',
  'auth',
  'users',
  'profile',
  'catalog',
  'search',
  'reviews',
  'ratings',
  'pricing',
  'inventory',
  'shipping',
  'orders',
  'notify',
  'email',
  'ads',
  'recommend',
  'currency',
  'fraud',
  'loyalty',
  'media',
  'session',
];
const ROLES = ['', '-api', '-worker', '-gateway'];
const NAMESPACES = ['shop', 'payments', 'identity', 'catalog', 'platform'];

/** One service of the simulated mesh (the app label is also its service name). */
export interface Service {
  app: string;
  namespace: string;
}

/** The 100 services every config and every body draws from. */
export const SERVICES: readonly Service[] = ROLES.flatMap((role) => DOMAINS.map((d) => `${d}${role}`)).map((app, i) => ({
  app,
  namespace: NAMESPACES[i % NAMESPACES.length],
}));

type Attrs = Record<string, unknown>;
type Labels = Record<string, string>;

/** What a rule does when it matches, as the reference model sees it. */
type Effect = { kind: 'deny'; code: number } | { kind: 'whitelist'; allowed: ReadonlySet<string> } | { kind: 'quota' };

/** One generated rule: its config documents and a plain-JS model of its match and answer. */
interface GenRule {
  namespace: string;
  name: string;
  docs: object[];
  matches: (a: Attrs) => boolean;
  effect: Effect;
  /** A bag that this rule matches (a starting point for bodies that exercise it). */
  target: (r: Rand) => Attrs;
}

const doc = (kind: string, namespace: string, name: string, spec: object): object => ({ apiVersion: 'mixer/v1', kind, metadata: { name, namespace }, spec });

const app = (a: Attrs): string | undefined => (a['source.labels'] as Labels | undefined)?.app;
const header = (a: Attrs, k: string): string | undefined => (a['request.headers'] as Labels | undefined)?.[k];

/** Handlers and instances shared by the rules of one namespace. */
function namespaceDocs(ns: string): object[] {
  return [
    doc('Handler', ns, 'deny-policy', {
      adapter: 'denier',
      params: { status: { code: PERMISSION_DENIED, message: 'denied by mesh policy' }, validDuration: '5s', validUseCount: 1000 },
    }),
    doc('Handler', ns, 'deny-canary', {
      adapter: 'denier',
      params: { status: { code: FAILED_PRECONDITION, message: 'canary traffic is for v2 callers only' }, validDuration: '10s', validUseCount: 500 },
    }),
    doc('Handler', ns, 'quota-mem', { adapter: 'memquota', params: { quotas: [{ name: 'requestcount', maxAmount: 1_000_000_000_000, validDuration: '1s' }] } }),
    doc('Instance', ns, 'nothing', { template: 'checknothing', params: {} }),
    doc('Instance', ns, 'caller-app', { template: 'listentry', params: { value: 'source.labels["app"] | "unknown"' } }),
    doc('Instance', ns, 'requestcount', {
      template: 'quota',
      params: { dimensions: { source: 'source.labels["app"] | "unknown"', destination: 'destination.service.name' } },
    }),
  ];
}

function rule(ns: string, name: string, match: object, handler: string, instance: string): object {
  return doc('Rule', ns, name, { match, actions: [{ handler, instances: [instance] }] });
}

const eq = (fact: string, value: unknown, path?: string): object => (path ? { fact, path, operator: 'equal', value } : { fact, operator: 'equal', value });

/** Rule `i` of a config: the kinds mix as deny 40%, whitelist 30%, quota 20%, header deny 10%. */
function makeRule(i: number, r: Rand): GenRule {
  const name = `r${String(i).padStart(4, '0')}`;
  const dst = r.pick(SERVICES);
  const ns = dst.namespace;
  if (i === 0) {
    // The one rule with no required equality: evaluated on every check.
    const match = { any: [eq('source.namespace', 'quarantine'), eq('request.headers', '1', '$.x-block')] };
    return {
      namespace: 'default',
      name: `${name}-quarantine`,
      docs: [rule('default', `${name}-quarantine`, match, 'deny-policy', 'nothing')],
      matches: (a) => a['source.namespace'] === 'quarantine' || header(a, 'x-block') === '1',
      effect: { kind: 'deny', code: PERMISSION_DENIED },
      target: (rr) => bagAttrs(rr, { quarantine: true }),
    };
  }
  const k = i % 10;
  // Every rule but the quarantine one is keyed on a source and a destination (a service pair).
  let src = r.pick(SERVICES);
  while (src.app === dst.app) src = r.pick(SERVICES);
  const fromSrc = eq('source.labels', src.app, '$.app');
  if (k === 1 || k === 4 || k === 7 || k === 0) {
    const methods = i % 20 === 7 ? ['DELETE', 'PUT'] : undefined;
    const all: object[] = [fromSrc, eq('destination.service.name', dst.app)];
    if (methods) all.push({ fact: 'request.method', operator: 'in', value: methods });
    return {
      namespace: ns,
      name: `${name}-deny`,
      docs: [rule(ns, `${name}-deny`, { all }, 'deny-policy', 'nothing')],
      matches: (a) => app(a) === src.app && a['destination.service.name'] === dst.app && (!methods || methods.includes(a['request.method'] as string)),
      effect: { kind: 'deny', code: PERMISSION_DENIED },
      target: (rr) => bagAttrs(rr, { src, dst, method: methods ? rr.pick(methods) : undefined }),
    };
  }
  if (k === 2 || k === 6 || k === 9) {
    const allowed = SERVICES.filter(() => r.next() < 0.7).map((s) => s.app);
    const handler = `writers-${name}`;
    const match = { all: [fromSrc, eq('destination.service.name', dst.app), { any: [eq('request.method', 'POST'), eq('request.method', 'DELETE')] }] };
    return {
      namespace: ns,
      name: `${name}-writers`,
      docs: [
        doc('Handler', ns, handler, { adapter: 'list', params: { overrides: allowed, blacklist: false, cachingInterval: '30s', cachingUseCount: 200 } }),
        rule(ns, `${name}-writers`, match, handler, 'caller-app'),
      ],
      matches: (a) => app(a) === src.app && a['destination.service.name'] === dst.app && (a['request.method'] === 'POST' || a['request.method'] === 'DELETE'),
      effect: { kind: 'whitelist', allowed: new Set(allowed) },
      target: (rr) => bagAttrs(rr, { src, dst, method: rr.pick(['POST', 'DELETE']) }),
    };
  }
  if (k === 3 || k === 8) {
    const match = { all: [fromSrc, eq('destination.service.name', dst.app), { not: eq('source.namespace', 'istio-system') }] };
    return {
      namespace: ns,
      name: `${name}-quota`,
      docs: [rule(ns, `${name}-quota`, match, 'quota-mem', 'requestcount')],
      matches: (a) => app(a) === src.app && a['destination.service.name'] === dst.app && a['source.namespace'] !== 'istio-system',
      effect: { kind: 'quota' },
      target: (rr) => bagAttrs(rr, { src, dst }),
    };
  }
  const match = {
    all: [fromSrc, eq('destination.service.name', dst.app), eq('request.headers', 'true', '$.x-canary'), { not: eq('source.labels', 'v2', '$.version') }],
  };
  return {
    namespace: ns,
    name: `${name}-canary`,
    docs: [rule(ns, `${name}-canary`, match, 'deny-canary', 'nothing')],
    matches: (a) =>
      app(a) === src.app && a['destination.service.name'] === dst.app && header(a, 'x-canary') === 'true' && (a['source.labels'] as Labels).version !== 'v2',
    effect: { kind: 'deny', code: FAILED_PRECONDITION },
    target: (rr) => bagAttrs(rr, { src, dst, canary: true, version: 'v1' }),
  };
}

/** Choices a bag may be steered by; anything unset is drawn at random. */
interface BagShape {
  src?: Service;
  dst?: Service;
  method?: string;
  version?: string;
  canary?: boolean;
  quarantine?: boolean;
}

const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE'];
const PATHS = ['/api/v1/items', '/api/v1/items/{id}', '/api/v2/orders/{id}/lines', '/healthz', '/graphql', '/api/v1/users/{id}/prefs'];
const AGENTS = ['Envoy/1.12.2', 'grpc-go/1.26.0', 'okhttp/4.9.0', 'python-requests/2.31', 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0'];

const ip = (r: Rand): string => `10.${r.int(64)}.${r.int(256)}.${1 + r.int(254)}`;
const podLabels = (s: Service, version: string, hash: string): Labels => ({
  app: s.app,
  version,
  'pod-template-hash': hash,
  'security.istio.io/tlsMode': 'istio',
});

/** A realistic inbound check bag (Istio 1.4 proxy vocabulary), about 1.1 KB as JSON. */
export function bagAttrs(r: Rand, shape: BagShape = {}): Attrs {
  const dst = shape.dst ?? r.pick(SERVICES);
  let src = shape.src ?? r.pick(SERVICES);
  while (!shape.src && src.app === dst.app) src = r.pick(SERVICES);
  const srcNs = shape.quarantine ? 'quarantine' : src.namespace;
  const version = shape.version ?? r.pick(['v1', 'v1', 'v2']);
  const dstVersion = r.pick(['v1', 'v2']);
  const method = shape.method ?? r.pick(METHODS);
  const path = r.pick(PATHS).replace('{id}', String(1000 + r.int(90000)));
  const host = `${dst.app}.${dst.namespace}.svc.cluster.local`;
  const srcHash = r.hex(10);
  const dstHash = r.hex(10);
  const headers: Labels = {
    ':authority': `${dst.app}:8080`,
    ':path': path,
    ':method': method,
    'user-agent': r.pick(AGENTS),
    'x-request-id': `${r.hex(8)}-${r.hex(4)}-${r.hex(4)}-${r.hex(4)}-${r.hex(12)}`,
    'x-b3-traceid': r.hex(16),
    'x-b3-sampled': '1',
    accept: 'application/json',
  };
  if (shape.canary ?? r.next() < 0.05) headers['x-canary'] = 'true';
  return {
    'source.ip': ip(r),
    'source.labels': podLabels(src, version, srcHash),
    'source.namespace': srcNs,
    'source.principal': `spiffe://cluster.local/ns/${srcNs}/sa/${src.app}`,
    'source.workload.name': `${src.app}-${version}`,
    'source.workload.namespace': srcNs,
    'destination.ip': ip(r),
    'destination.port': 8080,
    'destination.labels': podLabels(dst, dstVersion, dstHash),
    'destination.service.name': dst.app,
    'destination.service.host': host,
    'destination.service.namespace': dst.namespace,
    'destination.workload.name': `${dst.app}-${dstVersion}`,
    'request.headers': headers,
    'request.path': path,
    'request.method': method,
    'request.host': `${dst.app}:8080`,
    'request.scheme': 'http',
    'request.time': new Date(Date.UTC(2024, 4, 1, 12, 0, 0) + r.int(86_400_000)).toISOString(),
    'context.protocol': 'http',
    'context.reporter.kind': 'inbound',
    'connection.mtls': true,
  };
}

/** A generated config: its YAML and a reference model of its verdicts. */
export interface GeneratedConfig {
  rules: number;
  /** `name → text` of the files to write beside attributes.yaml. */
  files: Record<string, string>;
  /** The google.rpc code Mixer must answer for a bag. */
  verdict: (a: Attrs) => number;
  /** Bags that hit each rule (one per rule), to build bodies from. */
  targets: Attrs[];
}

/** A config of `n` rules (n ≥ 1): deny, whitelist (list), quota (memquota) and canary rules over service pairs. */
export function generateConfig(n: number, seed = 42): GeneratedConfig {
  const r = new Rand(seed + n);
  const rules = Array.from({ length: n }, (_, i) => makeRule(i, r));
  const namespaces = [...new Set(['default', ...rules.map((x) => x.namespace)])].sort();
  const files: Record<string, string> = {};
  for (const ns of namespaces) {
    const docs = [...namespaceDocs(ns), ...rules.filter((x) => x.namespace === ns).flatMap((x) => x.docs)];
    files[`bench-${ns}.yaml`] = docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
  }
  // Mixer's order: namespace, then name (plain code-unit comparison); first non-OK answer wins.
  const ordered = [...rules].sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
  const verdict = (a: Attrs): number => {
    for (const x of ordered) {
      if (!x.matches(a)) continue;
      const e = x.effect;
      if (e.kind === 'deny') return e.code;
      if (e.kind === 'whitelist' && !e.allowed.has(app(a) ?? 'unknown')) return NOT_FOUND;
    }
    return OK;
  };
  const tr = new Rand(seed * 7 + n);
  return { rules: n, files, verdict, targets: rules.map((x) => x.target(tr)) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Request bodies and the verdict Mixer must give to each. */
export interface BodySet {
  bodies: string[];
  expected: number[];
  /** Share of bodies per expected code. */
  mix: Record<number, number>;
}

/** The wanted share of each verdict among the bodies: most calls pass, some are refused. */
const WANTED: ReadonlyArray<[number, number]> = [
  [PERMISSION_DENIED, 0.2],
  [NOT_FOUND, 0.1],
  [FAILED_PRECONDITION, 0.05],
];

/**
 * `count` distinct check bodies for `config`: random bags plus bags aimed at its rules, mixed so that
 * about 65% pass and the rest are refused (as far as the config has rules that refuse).
 */
export function generateBodies(config: GeneratedConfig, count: number, seed = 7): BodySet {
  const r = new Rand(seed);
  const pool = new Map<number, Attrs[]>();
  const add = (a: Attrs): void => {
    const v = config.verdict(a);
    const list = pool.get(v) ?? pool.set(v, []).get(v)!;
    list.push(a);
  };
  for (let i = 0; i < count * 4; i++) add(bagAttrs(r));
  for (let i = 0; i < count; i++) add(bagAttrs(r, { quarantine: r.next() < 0.2 }));
  for (const t of config.targets) add(t);
  const chosen: Attrs[] = [];
  for (const [code, share] of WANTED) chosen.push(...(pool.get(code) ?? []).slice(0, Math.round(count * share)));
  chosen.push(...(pool.get(OK) ?? []).slice(0, count - chosen.length));
  // Interleave verdicts so every stretch of the load sees the mix.
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
  }
  const expected = chosen.map((a) => config.verdict(a));
  const mix: Record<number, number> = {};
  for (const v of expected) mix[v] = (mix[v] ?? 0) + 1 / expected.length;
  return { bodies: chosen.map((a) => JSON.stringify({ attributes: a })), expected, mix };
}
