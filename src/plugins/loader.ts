/**
 * Operator plugins: adapters that are not built in, found at run time by the name a Handler uses.
 *
 * For an adapter name `n`, in this order:
 * 1. the folder `<pluginsDir>/n/` (a package: its package.json `main`, else `index.js`);
 * 2. the npm package `mixer-adapter-n`, then the npm package `n`, each resolved from `pluginsDir`
 *    and then from the process's working directory (their `node_modules`, and those of their parents).
 * The module exports the factory as `adapter` or `default`.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { ErrorDetail } from '../base/errors';
import type { AdapterFactory } from '../sdk/adapter';
import { recordAdapterSource } from './adapter-source';
import { exportedFactory, factoryProblems, isFactoryNamed, PLUGIN_NAME } from './validate-factory';

/** Options of {@link createAdapterResolver} and {@link loadPlugin}. */
export interface PluginLookup {
  /** Folder of plugin folders (`<pluginsDir>/<name>/`); it need not exist. */
  pluginsDir: string;
  /** Second starting point for npm packages; default `process.cwd()`. */
  cwd?: string;
}

/** Options of {@link createAdapterResolver}. */
export interface AdapterResolverOptions extends PluginLookup {
  logger: Logger;
}

/** What ConfigStore's `resolveAdapters` hook expects. */
export type AdapterResolver = (names: readonly string[]) => Promise<{ adapters: ReadonlyMap<string, AdapterFactory>; errors: ErrorDetail[] }>;

/** A plugin found on disk: the file to require, and how it was found. */
export interface FoundPlugin {
  file: string;
  via: 'folder' | 'package';
}

/** The outcome of {@link loadPlugin}: a factory, or the problems (each naming the adapter). */
export interface LoadedPlugin {
  factory?: AdapterFactory;
  file?: string;
  errors: ErrorDetail[];
}

const fieldOf = (name: string): string => `adapter "${name}"`;

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the file of plugin `name` (see the module comment for the order), or explains where it
 * looked. Throws nothing.
 */
export function findPlugin(name: string, lookup: PluginLookup): FoundPlugin | { problem: string } {
  const folder = path.join(lookup.pluginsDir, name);
  if (isDirectory(folder)) {
    try {
      return { file: require.resolve(folder), via: 'folder' };
    } catch (err) {
      return { problem: `plugin folder ${folder} has no loadable entry point (package.json "main", else index.js): ${(err as Error).message.split('\n')[0]}` };
    }
  }
  const from = [lookup.pluginsDir, lookup.cwd ?? process.cwd()];
  for (const id of [`mixer-adapter-${name}`, name]) {
    try {
      return { file: require.resolve(id, { paths: from }), via: 'package' };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'MODULE_NOT_FOUND') return { problem: `npm package ${id} cannot be resolved: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  return {
    problem: `no built-in or plugin adapter "${name}": looked for the folder ${folder}/ and the npm packages mixer-adapter-${name} and ${name} from ${from.join(' and ')}`,
  };
}

/**
 * Finds, loads and checks plugin `name`. Loading runs the module's top-level code in this process;
 * a module that throws is reported as an error, never a crash. On success the factory's source is
 * recorded, so an isolated handler can load it again in its worker.
 */
export function loadPlugin(name: string, lookup: PluginLookup): LoadedPlugin {
  const field = fieldOf(name);
  if (!PLUGIN_NAME.test(name)) {
    return { errors: [{ field, reason: 'is neither a built-in adapter nor a valid plugin name (lowercase letters, digits and "-", starting with a letter)' }] };
  }
  const found = findPlugin(name, lookup);
  if ('problem' in found) return { errors: [{ field, reason: found.problem }] };
  let module: unknown;
  try {
    // A plugin is a CommonJS file named at run time (MIXER_PLUGINS_DIR): only require() can load it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    module = require(found.file);
  } catch (err) {
    return { file: found.file, errors: [{ field, reason: `plugin ${found.file} failed to load: ${(err as Error)?.message ?? String(err)}` }] };
  }
  const exported = exportedFactory(module);
  if (!exported)
    return {
      file: found.file,
      errors: [{ field, reason: `plugin ${found.file} exports no adapter factory (export it as "adapter" or as the default export)` }],
    };
  const problems = factoryProblems(exported.candidate, name);
  if (!isFactoryNamed(exported.candidate, name)) {
    return { file: found.file, errors: problems.map((p) => ({ field, reason: `plugin ${found.file} (export "${exported.exportName}"): ${p}` })) };
  }
  recordAdapterSource(exported.candidate, found.file, exported.exportName);
  return { factory: exported.candidate, file: found.file, errors: [] };
}

/**
 * Builds the `resolveAdapters` hook of ConfigStore: for every adapter name that is not built in it
 * loads the plugin ({@link loadPlugin}) and returns the factories found and the problems met.
 *
 * A plugin that loads is kept for the life of the process (Node caches modules): a changed plugin
 * takes effect after a restart. A plugin that fails (missing, throwing, bad shape) is tried again on
 * the next config load, so installing or fixing it and then touching the config is enough.
 */
export function createAdapterResolver(opts: AdapterResolverOptions): AdapterResolver {
  const loaded = new Map<string, AdapterFactory>();
  return async (names) => {
    const adapters = new Map<string, AdapterFactory>();
    const errors: ErrorDetail[] = [];
    for (const name of names) {
      const hit = loaded.get(name);
      if (hit) {
        adapters.set(name, hit);
        continue;
      }
      const r = loadPlugin(name, opts);
      if (r.factory) {
        loaded.set(name, r.factory);
        adapters.set(name, r.factory);
        opts.logger.info({ adapter: name, file: r.file, templates: r.factory.templates }, 'plugin adapter loaded');
      } else {
        errors.push(...r.errors);
      }
    }
    return { adapters, errors };
  };
}

/**
 * The adapters a set of config objects needs: the built-ins, plus the plugins its Handlers name
 * (found with `resolve`); plugin load problems are appended to `errors`. One mechanism for
 * `mixer serve`, `mixer worker` and `mixer validate`.
 */
export async function adaptersForConfig(
  objects: ReadonlyArray<{ kind: string; doc: unknown }>,
  builtins: ReadonlyMap<string, AdapterFactory>,
  resolve: AdapterResolver | undefined,
  errors: ErrorDetail[],
): Promise<ReadonlyMap<string, AdapterFactory>> {
  const wanted = objects.filter((o) => o.kind === 'Handler').map((o) => (o.doc as { spec: { adapter: string } }).spec.adapter);
  const names = [...new Set(wanted)].filter((n) => !builtins.has(n));
  if (names.length === 0 || !resolve) return builtins;
  const found = await resolve(names);
  errors.push(...found.errors);
  return new Map([...builtins, ...found.adapters]);
}
