/**
 * The layers of Mixer's code, checked by `npm run lint:layers` (and so by CI).
 * docs/architecture.md draws the same map in prose.
 *
 * Each folder of `src/` may import its own files and the folders listed for it here, nothing else;
 * a new folder must be added to the table before anything in it may import `src/`. The table is a
 * strict order (each folder lists only folders above it in this list), so folders cannot import
 * each other in circles; the `no-folder-cycles` rule checks that too, and `no-circular` checks
 * files. Adapters see only the SDK's public entry, as a third-party adapter does (`require('mixer')`).
 */
const BASE = ['src/base'];
const ATTRS = [...BASE, 'src/attributes'];
const SDK = [...ATTRS, 'src/templates', 'src/sdk'];
const CONFIG = [...SDK, 'src/conditions', 'src/routing', 'src/expr', 'src/config'];
const ENGINE = [...CONFIG, 'src/metrics', 'src/plugins', 'src/runtime'];
const PROXY = [...ATTRS, 'src/routing', 'src/mesh/common', 'src/mesh/mixer-client'];
const INVENTORY = 'adapters/index.ts';

/** folder → what its files may import besides their own folder. */
const LAYERS = {
  // Below everything: errors, logging, timeouts, throttled logs, ports, the process runner.
  'src/base': [],
  'src/attributes': BASE,
  'src/templates': ATTRS,
  // The adapter SDK: the contract adapters implement and the env they are given.
  'src/sdk': [...ATTRS, 'src/templates'],
  // The condition compiler and rule index (json-rules-engine's language, compiled).
  'src/conditions': ATTRS,
  // RouteRule selection, shared by Mixer (config) and the proxies.
  'src/routing': ATTRS,
  'src/expr': [...SDK, 'src/conditions'],
  'src/config': [...SDK, 'src/conditions', 'src/routing', 'src/expr'],
  'src/metrics': BASE,
  'src/plugins': [...SDK, 'src/metrics', INVENTORY],
  // The engine: snapshots, handler runtimes, the config store and its generations.
  'src/runtime': [...CONFIG, 'src/metrics', 'src/plugins'],
  'src/policy': [...ENGINE],
  'src/queue': [...ENGINE],
  // The live tap: filters, sessions, limits, the Redis fan-in (the hub it feeds is in src/runtime).
  'src/tap': [...ENGINE],
  // Envoy ext_authz v3, Envoy ALS v3 and Istio mixer v1 over gRPC: decode, validate, call policy or queue.
  'src/api/grpc': [...ENGINE, 'src/policy', 'src/queue'],
  // The HTTP API (its ext_authz mode shares the Envoy mapping of src/api/grpc).
  'src/api/http': [...ENGINE, 'src/policy', 'src/queue', 'src/tap', 'src/api/grpc'],
  // Mixer's side of the mesh: the registry and the routes sidecars poll.
  'src/mesh/control': [...ENGINE, 'src/mesh/common'],
  // The proxy side: never Mixer's engine.
  'src/mesh/common': BASE,
  'src/mesh/mixer-client': [...ATTRS, 'src/routing', 'src/mesh/common'],
  'src/mesh/sidecar': PROXY,
  'src/mesh/ingress': [...PROXY, 'src/mesh/sidecar'],
  'src/mesh/demo': BASE,
  'src/mesh': [...PROXY, 'src/mesh/sidecar', 'src/mesh/ingress'],
  // Start-up and wiring of `mixer serve` / `mixer worker`.
  'src/server': [...ENGINE, 'src/policy', 'src/queue', 'src/tap', 'src/api/grpc', 'src/api/http', 'src/mesh/common', 'src/mesh/control', INVENTORY],
  'src/cli': [...ENGINE, 'src/server', 'src/mesh', 'src/mesh/common', 'src/cli/mixctl', INVENTORY],
  // The operator CLI: talks to Mixer over HTTP; reads config files to validate them.
  'src/cli/mixctl': [...CONFIG, 'src/mesh/common', INVENTORY],
};

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** A folder's own files (not its subfolders'), or one file. */
const unit = (f) => (f.endsWith('.ts') ? `${esc(f)}$` : `${esc(f)}/[^/]+$`);
const anyOf = (units) => `^(?:${units.map(unit).join('|')})`;

const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => ({
  name: `layer:${folder}`,
  comment: `${folder} may import only ${allowed.length ? allowed.join(', ') : 'its own files'} (see .dependency-cruiser.cjs and docs/architecture.md)`,
  severity: 'error',
  from: { path: anyOf([folder]) },
  to: { path: '^(?:src|adapters)/', pathNot: anyOf([folder, ...allowed]) },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'folder-not-in-layer-map',
      comment: 'Every folder of src/ has a place in the layer table of .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: '^src/', pathNot: anyOf(Object.keys(LAYERS)) },
      to: { path: '^(?:src|adapters)/' },
    },
    {
      name: 'adapters-use-the-sdk-only',
      comment: 'An adapter imports only the SDK public entry (src/sdk/index.ts), like a third-party adapter.',
      severity: 'error',
      from: { path: '^adapters/' },
      to: { path: '^src/', pathNot: '^src/sdk/index\\.ts$' },
    },
    {
      name: 'adapters-are-independent',
      comment: 'An adapter does not import another adapter; only the inventory (adapters/index.ts) lists them all.',
      severity: 'error',
      from: { path: '^adapters/([^/]+)/' },
      to: { path: '^adapters/', pathNot: '^adapters/$1/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between files.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'No import cycles between folders.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^(?:src|adapters)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    includeOnly: '^(?:src|adapters)/',
  },
};
