/**
 * Where an adapter factory's code lives, so that another thread (an isolated handler's worker) can
 * load the same factory: a built-in by name, or a plugin by the file the loader required.
 */
import { BUILTIN_ADAPTERS } from '../../adapters/index';
import type { AdapterFactory } from '../sdk/adapter';
import type { FactoryExport } from './validate-factory';

/** How to load a factory again: plain data, so it can be posted to a worker thread. */
export type AdapterSource = { kind: 'builtin'; name: string } | { kind: 'module'; name: string; file: string; exportName: FactoryExport };

const sources = new WeakMap<AdapterFactory, AdapterSource>();

/** Records that `factory` was loaded from `file` (its `exportName` export). Called by the plugin loader. */
export function recordAdapterSource(factory: AdapterFactory, file: string, exportName: FactoryExport): void {
  sources.set(factory, { kind: 'module', name: factory.name, file, exportName });
}

/**
 * The source of `factory`: a plugin the loader recorded, or a built-in of `adapters/index.ts`.
 * `undefined` for a factory handed to Mixer in process (e.g. by a test), which cannot be isolated.
 */
export function adapterSourceOf(factory: AdapterFactory): AdapterSource | undefined {
  const recorded = sources.get(factory);
  if (recorded) return recorded;
  if (BUILTIN_ADAPTERS.includes(factory)) return { kind: 'builtin', name: factory.name };
  return undefined;
}
