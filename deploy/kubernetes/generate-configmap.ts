/**
 * Writes `deploy/kubernetes/configmap.yaml`, the `mixer-rules` ConfigMap, from the files in `rules/`,
 * so the config Kubernetes runs is the default config, byte for byte. After changing `rules/`:
 *
 *   npx tsc -p tsconfig.json && node dist/deploy/kubernetes/generate-configmap.js
 *
 * `--check` writes nothing and exits 1 when configmap.yaml is out of date
 * (test/unit/deploy/kubernetes.test.ts checks the same).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';

/** Name and namespace of the ConfigMap that mixer.yaml and worker.yaml mount at /etc/mixer/rules. */
export const CONFIGMAP_NAME = 'mixer-rules';
export const CONFIGMAP_NAMESPACE = 'mixer';

/** The API server refuses a ConfigMap over 1 MiB. */
const MAX_CONFIGMAP_BYTES = 1024 * 1024;

/** The repository root: the nearest folder above `from` holding package.json (from source or from dist/). */
export function findRepoRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * The config files of `dir` as ConfigMap data: file name → text, sorted by name. Only the top level
 * (a ConfigMap key cannot hold a folder); hidden entries are skipped, as Mixer's loader does.
 * Throws on a subfolder with YAML in it, or a name that is not a valid ConfigMap key.
 */
export function readRules(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) {
      throw new Error(`${file}: a ConfigMap cannot hold subfolders; put its files at the top of ${dir} or in a second ConfigMap`);
    }
    if (!/\.ya?ml$/i.test(name)) continue;
    if (!/^[-._a-zA-Z0-9]+$/.test(name)) throw new Error(`${file}: "${name}" is not a valid ConfigMap key`);
    out.set(name, readFileSync(file, 'utf8'));
  }
  return out;
}

/** The text of configmap.yaml for `rules` (name → file text). */
export function renderConfigMap(rules: ReadonlyMap<string, string>): string {
  const data: Record<string, string> = {};
  let bytes = 0;
  for (const [name, text] of rules) {
    data[name] = text;
    bytes += Buffer.byteLength(name) + Buffer.byteLength(text);
  }
  if (bytes > MAX_CONFIGMAP_BYTES) throw new Error(`rules are ${bytes} bytes; a ConfigMap holds at most ${MAX_CONFIGMAP_BYTES}`);
  const doc = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: CONFIGMAP_NAME,
      namespace: CONFIGMAP_NAMESPACE,
      labels: { 'app.kubernetes.io/name': 'mixer', 'app.kubernetes.io/component': 'config', 'app.kubernetes.io/part-of': 'mixer' },
    },
    data,
  };
  const header = [
    '# GENERATED from rules/*.yaml by deploy/kubernetes/generate-configmap.ts: do not edit by hand.',
    '# Regenerate: npx tsc -p tsconfig.json && node dist/deploy/kubernetes/generate-configmap.js',
    '#',
    "# Mixer's config, mounted at /etc/mixer/rules by mixer.yaml and worker.yaml. To change the running",
    '# config, edit this ConfigMap (kubectl -n mixer edit configmap mixer-rules, or regenerate and apply):',
    '# the kubelet updates the mounted files and Mixer reloads them without a restart (docs/deploy.md).',
  ].join('\n');
  return `${header}\n${stringify(doc, { lineWidth: 0, blockQuote: 'literal' })}`;
}

/** Where configmap.yaml lives, relative to the repository root. */
export const CONFIGMAP_PATH = path.join('deploy', 'kubernetes', 'configmap.yaml');

function main(argv: readonly string[]): number {
  const root = findRepoRoot();
  const text = renderConfigMap(readRules(path.join(root, 'rules')));
  const target = path.join(root, CONFIGMAP_PATH);
  const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
  if (argv.includes('--check')) {
    if (current === text) return 0;
    process.stderr.write(`${CONFIGMAP_PATH} is out of date with rules/: regenerate it (node dist/deploy/kubernetes/generate-configmap.js)\n`);
    return 1;
  }
  if (current !== text) writeFileSync(target, text);
  process.stdout.write(`${CONFIGMAP_PATH}: ${current === text ? 'up to date' : 'written'}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
