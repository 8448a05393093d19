import { createHash } from 'node:crypto';
import type { ValueType, Vocabulary } from '../attributes/types';
import type { ErrorDetail } from '../base/errors';
import type { AdapterFactory } from '../sdk/adapter';
import { validateParams } from '../sdk/params';
import { TEMPLATES } from '../templates/templates';
import type { TemplateInfo } from '../templates/templates';
import { compileInstance, SharedMaps } from '../expr/instance';
import type { InstanceBuilder } from '../expr/instance';
import { alwaysTrue, compileCondition, validateCondition } from '../conditions/condition';
import type { Predicate } from '../conditions/condition';
import { compileRouteRules } from './route-rule-compile';
import { compilePeerAuthentications } from './peer-auth-compile';
import type { PeerAuthPlan, RouteRulePlan } from '../routing/types';
import { detailAt } from './source';
import type { ConfigObject } from './source';
import type { AttributeManifestDoc, HandlerDoc, HandlerIsolation, InstanceDoc, RuleDoc } from './schema';

/** A handler as configured: which adapter, with validated (frozen, defaulted) params. */
export interface HandlerPlan {
  ref: string;
  adapter: AdapterFactory;
  config: unknown;
  /** `worker`: the adapter runs in a worker thread of its own (see `src/plugins/isolated-handler.ts`). */
  isolation: HandlerIsolation;
  /** Same fingerprint ⇒ same adapter, isolation and params ⇒ a reload may reuse the running handler. */
  fingerprint: string;
}

export interface InstancePlan {
  ref: string;
  template: TemplateInfo;
  build: InstanceBuilder;
}

export interface ActionPlan {
  handler: string;
  instances: InstancePlan[];
}

export interface RulePlan {
  ref: string;
  match: unknown;
  predicate: Predicate;
  actions: ActionPlan[];
}

/** A fully checked config, ready to be instantiated. Pure data: no handler is created yet. */
export interface ConfigPlan {
  objects: readonly ConfigObject[];
  vocabulary: Vocabulary;
  handlers: ReadonlyMap<string, HandlerPlan>;
  instances: ReadonlyMap<string, InstancePlan>;
  /** Rules in evaluation order: namespace, then name. */
  rules: readonly RulePlan[];
  /** RouteRules for sidecars and the ingress, highest precedence first (served on `GET /v1/routes`). */
  routes: readonly RouteRulePlan[];
  /** PeerAuthentications (mutual TLS modes), by namespace and name (served on `GET /v1/routes` too). */
  peerAuthentications: readonly PeerAuthPlan[];
  /** SHA-256 of the objects' content (after `${VAR}` substitution), whatever files or order they came in. */
  digest: string;
}

/** Resolves `name` (same namespace) or `namespace/name` to a reference. */
export function resolveRef(ref: string, namespace: string): string {
  return ref.includes('/') ? ref : `${namespace}/${ref}`;
}

/** The content digest of a config: its objects by key, each as canonical JSON (no file names or lines). */
export function configDigest(objects: readonly ConfigObject[]): string {
  const hash = createHash('sha256');
  for (const o of [...objects].sort((a, b) => cmp(a.key, b.key))) hash.update(`${o.key}\n${canonicalJson(o.doc)}\n`);
  return hash.digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Checks a set of config objects as a whole (duplicates, vocabulary, adapter params, references,
 * expressions, conditions) and compiles them. Returns every problem found, or the plan.
 */
export function compileConfig(objects: readonly ConfigObject[], adapters: ReadonlyMap<string, AdapterFactory>): { plan?: ConfigPlan; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const seen = new Map<string, ConfigObject>();
  for (const o of objects) {
    const prev = seen.get(o.key);
    if (prev)
      errors.push(
        detailAt(
          o,
          ['metadata', 'name'],
          `duplicate ${o.kind} ${o.namespace}/${o.name} (also defined at ${detailAt(prev, ['metadata', 'name'], '').field.split(' ')[0]})`,
        ),
      );
    else seen.set(o.key, o);
  }
  const unique = [...seen.values()];
  const of = <K extends ConfigObject['kind']>(kind: K) => unique.filter((o) => o.kind === kind);

  // Vocabulary: the union of every manifest; one name, one type.
  const vocab = new Map<string, ValueType>();
  const declaredAt = new Map<string, string>();
  for (const o of of('AttributeManifest')) {
    for (const [name, a] of Object.entries((o.doc as AttributeManifestDoc).spec.attributes)) {
      const prev = vocab.get(name);
      if (prev !== undefined && prev !== a.valueType) {
        errors.push(
          detailAt(o, ['spec', 'attributes', name, 'valueType'], `attribute ${name} is declared ${prev} at ${declaredAt.get(name)} and ${a.valueType} here`),
        );
        continue;
      }
      vocab.set(name, a.valueType);
      declaredAt.set(name, o.key);
    }
  }

  const handlers = new Map<string, HandlerPlan>();
  for (const o of of('Handler')) {
    const spec = (o.doc as HandlerDoc).spec;
    const adapter = adapters.get(spec.adapter);
    if (!adapter) {
      errors.push(detailAt(o, ['spec', 'adapter'], `unknown adapter ${JSON.stringify(spec.adapter)}; known: ${[...adapters.keys()].sort().join(', ')}`));
      continue;
    }
    const where = `${detailAt(o, ['spec', 'params'], '').field}`;
    const { config, errors: perr } = validateParams(adapter, spec.params ?? {}, where);
    if (perr.length > 0) {
      errors.push(...perr);
      continue;
    }
    const ref = `${o.namespace}/${o.name}`;
    const isolation = spec.isolation ?? 'none';
    handlers.set(ref, { ref, adapter, config, isolation, fingerprint: `${adapter.name}:${isolation}:${canonicalJson(spec.params ?? {})}` });
  }

  const instances = new Map<string, InstancePlan>();
  const sharedMaps = new SharedMaps();
  for (const o of of('Instance')) {
    const spec = (o.doc as InstanceDoc).spec;
    const template = TEMPLATES[spec.template];
    if (!template) {
      errors.push(detailAt(o, ['spec', 'template'], `unknown template ${JSON.stringify(spec.template)}; known: ${Object.keys(TEMPLATES).join(', ')}`));
      continue;
    }
    const ref = `${o.namespace}/${o.name}`;
    const build = compileInstance(ref, template, spec.params ?? {}, vocab, (path, reason) => errors.push(detailAt(o, path, reason)), sharedMaps);
    if (build) instances.set(ref, { ref, template, build });
  }

  const rules: RulePlan[] = [];
  const ruleObjects = of('Rule').sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
  for (const o of ruleObjects) {
    const spec = (o.doc as RuleDoc).spec;
    let ok = true;
    let predicate: Predicate = alwaysTrue;
    if (spec.match !== undefined && spec.match !== null) {
      const problems = validateCondition(spec.match, vocab, '');
      for (const p of problems) errors.push(detailAt(o, ['spec', 'match'], `${p.field ? `${p.field.replace(/^\./, '')}: ` : ''}${p.reason}`));
      if (problems.length > 0) ok = false;
      else predicate = compileCondition(spec.match as never, vocab);
    }
    const actions: ActionPlan[] = [];
    spec.actions.forEach((a, i) => {
      const href = resolveRef(a.handler, o.namespace);
      const h = handlers.get(href);
      if (!h) {
        const exists = unique.some((x) => x.kind === 'Handler' && `${x.namespace}/${x.name}` === href);
        if (!exists) errors.push(detailAt(o, ['spec', 'actions', i, 'handler'], `handler ${href} does not exist`));
        ok = false;
        return;
      }
      const insts: InstancePlan[] = [];
      a.instances.forEach((iname, j) => {
        const iref = resolveRef(iname, o.namespace);
        const inst = instances.get(iref);
        if (!inst) {
          const exists = unique.some((x) => x.kind === 'Instance' && `${x.namespace}/${x.name}` === iref);
          if (!exists) errors.push(detailAt(o, ['spec', 'actions', i, 'instances', j], `instance ${iref} does not exist`));
          ok = false;
          return;
        }
        if (!h.adapter.templates.includes(inst.template.name)) {
          errors.push(
            detailAt(
              o,
              ['spec', 'actions', i, 'instances', j],
              `instance ${iref} is a ${inst.template.name}, which adapter ${h.adapter.name} (handler ${href}) does not take (it takes ${h.adapter.templates.join(', ')})`,
            ),
          );
          ok = false;
          return;
        }
        insts.push(inst);
      });
      actions.push({ handler: href, instances: insts });
    });
    if (ok) rules.push({ ref: `${o.namespace}/${o.name}`, match: spec.match, predicate, actions });
  }

  const routing = compileRouteRules(unique);
  errors.push(...routing.errors);
  const peerAuth = compilePeerAuthentications(unique);
  errors.push(...peerAuth.errors);

  if (errors.length > 0) return { errors };
  return {
    plan: {
      objects: Object.freeze([...unique]),
      vocabulary: vocab,
      handlers,
      instances,
      rules: Object.freeze(rules),
      routes: routing.routes,
      peerAuthentications: peerAuth.policies,
      digest: configDigest(unique),
    },
    errors,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
