/**
 * The shape checks a plugin's module must pass before Mixer trusts its factory: the export it comes
 * from, its name, its templates, its config schema and its constructor.
 */
import type { AdapterFactory } from '../sdk/adapter';
import { TEMPLATES } from '../templates/templates';
import { ADAPTER_CAPABILITIES } from '../sdk/decision';

/** Adapter names a plugin may have: lowercase letters, digits and `-`, starting with a letter (as in YAML). */
export const PLUGIN_NAME = /^[a-z][a-z0-9-]*$/;

/** Which export of a plugin module holds the factory. */
export type FactoryExport = 'adapter' | 'default';

/**
 * Picks the factory out of a loaded module: its `adapter` export, else its `default` export.
 * Returns `undefined` when the module has neither (or `module` is not an object).
 */
export function exportedFactory(module: unknown): { candidate: unknown; exportName: FactoryExport } | undefined {
  if (typeof module !== 'object' || module === null) return undefined;
  const m = module as { adapter?: unknown; default?: unknown };
  if (m.adapter !== undefined) return { candidate: m.adapter, exportName: 'adapter' };
  if (m.default !== undefined) return { candidate: m.default, exportName: 'default' };
  return undefined;
}

/**
 * Checks that `candidate` is a usable {@link AdapterFactory} named `name`; returns every problem
 * found (empty when it is usable): `name` must equal the name asked for, `templates` must be a
 * list of known templates (non-empty unless `capabilities` names one), `configSchema` an object and `create` a function.
 */
export function factoryProblems(candidate: unknown, name: string): string[] {
  if (typeof candidate !== 'object' || candidate === null) return [`the factory must be an object, got ${candidate === null ? 'null' : typeof candidate}`];
  const f = candidate as Record<string, unknown>;
  const problems: string[] = [];
  if (f.name !== name) problems.push(`its name is ${JSON.stringify(f.name)}, but Handlers ask for "${name}" (the two must be equal)`);
  const caps = f.capabilities;
  if (caps !== undefined && (!Array.isArray(caps) || caps.some((c) => !(ADAPTER_CAPABILITIES as readonly unknown[]).includes(c))))
    problems.push(`capabilities must be a list of ${ADAPTER_CAPABILITIES.join(', ')}`);
  const hasCaps = Array.isArray(caps) && caps.length > 0;
  if (!Array.isArray(f.templates) || (f.templates.length === 0 && !hasCaps)) {
    problems.push(`templates must be a non-empty list of template names (known: ${Object.keys(TEMPLATES).join(', ')})`);
  } else {
    const unknown = f.templates.filter((t) => typeof t !== 'string' || !TEMPLATES[t]);
    if (unknown.length > 0)
      problems.push(`unknown template(s) ${unknown.map((t) => JSON.stringify(t)).join(', ')} (known: ${Object.keys(TEMPLATES).join(', ')})`);
  }
  if (typeof f.configSchema !== 'object' || f.configSchema === null || Array.isArray(f.configSchema))
    problems.push('configSchema must be a JSON Schema object');
  if (typeof f.create !== 'function') problems.push('create must be a function (config, env) => Handler');
  return problems;
}

/** Narrows `candidate` to a factory when {@link factoryProblems} finds nothing. */
export function isFactoryNamed(candidate: unknown, name: string): candidate is AdapterFactory {
  return factoryProblems(candidate, name).length === 0;
}
