import type { AdapterFactory } from '../src/sdk';
import { denierAdapter } from './denier';
import { listAdapter } from './list';
import { memquotaAdapter } from './memquota';
import { redisquotaAdapter } from './redisquota';
import { zipkinAdapter } from './zipkin';
import { prometheusAdapter } from './prometheus';
import { graphAdapter } from './graph';
import { stdioAdapter } from './stdio';
import { decisionlogAdapter } from './decisionlog';

/** The built-in adapters, kept by hand. Add a new adapter's factory here (its folder name is its YAML name). */
export const BUILTIN_ADAPTERS: readonly AdapterFactory[] = Object.freeze([
  denierAdapter,
  listAdapter,
  memquotaAdapter,
  redisquotaAdapter,
  prometheusAdapter,
  zipkinAdapter,
  graphAdapter,
  stdioAdapter,
  decisionlogAdapter,
]);

/**
 * Adapters by name: the built-ins, or the `factories` given (e.g. built-ins plus operator plugins).
 * Throws when two factories share a name.
 */
export function adapterInventory(factories: readonly AdapterFactory[] = BUILTIN_ADAPTERS): Map<string, AdapterFactory> {
  const byName = new Map<string, AdapterFactory>();
  for (const f of factories) {
    if (byName.has(f.name)) throw new Error(`duplicate adapter name "${f.name}"`);
    byName.set(f.name, f);
  }
  return byName;
}
