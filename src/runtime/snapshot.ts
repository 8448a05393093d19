import type { ConfigPlan, InstancePlan, RulePlan } from '../config/compile';
import { RuleIndex } from '../conditions/rule-index';
import { HandlerRuntime } from './handler-runtime';
import type { HandlerDeps } from './handler-runtime';
import type { ConfigVersion } from './generations';
import { ObserverHub } from './observers';

/** One handler call a matched rule asks for. */
export interface Call {
  handler: HandlerRuntime;
  instance: InstancePlan;
}

/** A rule bound to running handlers, its calls split by template variety. */
export interface BoundRule {
  ref: string;
  checks: readonly Call[];
  quotas: readonly Call[];
  reports: readonly Call[];
}

/**
 * An immutable, running config: what a check or a report job reads from start to end.
 * A reload builds a new snapshot; requests in flight keep the one they started with.
 */
export interface Snapshot {
  readonly generation: number;
  /** Generations are comparable within one epoch (see `generations.ts`). */
  readonly epoch: string;
  readonly plan: ConfigPlan;
  readonly handlers: ReadonlyMap<string, HandlerRuntime>;
  /** Rules with check or quota actions. */
  readonly checkRules: RuleIndex<BoundRule>;
  /** Rules with report actions. */
  readonly reportRules: RuleIndex<BoundRule>;
  /** Report rules per handler: only the rules that send that handler something. */
  readonly reportRulesByHandler: ReadonlyMap<string, RuleIndex<BoundRule>>;
  /** Handlers that some report rule sends instances to: where a report batch goes. */
  readonly reportHandlers: readonly string[];
  /** Quota instances by reference (`ns/name`) and, in namespace `default`, by name. */
  readonly quotaInstances: ReadonlyMap<string, InstancePlan>;
  /** The process's tap and decision hub; a check tests `observers.active` once (see ObserverHub). */
  readonly observers: ObserverHub;
  /** Handlers whose adapter declares the `decisions` capability: each receives every check decision. */
  readonly decisionHandlers: readonly HandlerRuntime[];
}

/** The hub of snapshots built without one (tests, tools): nothing ever attaches to it. */
const NO_OBSERVERS = new ObserverHub('none');

function bind(rule: RulePlan, handlers: ReadonlyMap<string, HandlerRuntime>): BoundRule {
  const checks: Call[] = [];
  const quotas: Call[] = [];
  const reports: Call[] = [];
  for (const action of rule.actions) {
    const handler = handlers.get(action.handler)!;
    for (const instance of action.instances) {
      const variety = instance.template.variety;
      (variety === 'check' ? checks : variety === 'quota' ? quotas : reports).push({ handler, instance });
    }
  }
  return { ref: rule.ref, checks, quotas, reports };
}

/**
 * Starts the handlers of `plan`, reusing from `previous` every handler whose adapter and
 * params did not change. If any handler fails to start, the new ones are closed and it throws.
 */
export async function buildSnapshot(
  plan: ConfigPlan,
  version: ConfigVersion,
  deps: HandlerDeps & { observers?: ObserverHub },
  previous?: Snapshot,
): Promise<Snapshot> {
  const handlers = new Map<string, HandlerRuntime>();
  const started: HandlerRuntime[] = [];
  const reusable = new Map<string, HandlerRuntime>();
  for (const h of previous?.handlers.values() ?? []) reusable.set(`${h.ref}|${h.plan.fingerprint}`, h);
  try {
    await Promise.all(
      [...plan.handlers.values()].map(async (hp) => {
        const old = reusable.get(`${hp.ref}|${hp.fingerprint}`);
        if (old) {
          handlers.set(hp.ref, old);
          return;
        }
        const h = await HandlerRuntime.start(hp, deps);
        started.push(h);
        handlers.set(hp.ref, h);
      }),
    );
  } catch (err) {
    await Promise.all(started.map((h) => h.close()));
    throw err;
  }
  const bound = plan.rules.map((r) => ({ plan: r, bound: bind(r, handlers) }));
  const checkRules = new RuleIndex(
    bound.filter((b) => b.bound.checks.length + b.bound.quotas.length > 0).map((b) => ({ match: b.plan.match, predicate: b.plan.predicate, payload: b.bound })),
    plan.vocabulary,
  );
  const reportRules = new RuleIndex(
    bound.filter((b) => b.bound.reports.length > 0).map((b) => ({ match: b.plan.match, predicate: b.plan.predicate, payload: b.bound })),
    plan.vocabulary,
  );
  const reportRulesByHandler = new Map<string, RuleIndex<BoundRule>>();
  const reportHandlers = [...new Set(bound.flatMap((b) => b.bound.reports.map((c) => c.handler.ref)))].sort();
  for (const ref of reportHandlers) {
    const mine = bound.filter((b) => b.bound.reports.some((c) => c.handler.ref === ref));
    reportRulesByHandler.set(
      ref,
      new RuleIndex(
        mine.map((b) => ({ match: b.plan.match, predicate: b.plan.predicate, payload: b.bound })),
        plan.vocabulary,
      ),
    );
  }
  const quotaInstances = new Map<string, InstancePlan>();
  for (const inst of plan.instances.values()) {
    if (inst.template.variety !== 'quota') continue;
    quotaInstances.set(inst.ref, inst);
    if (inst.ref.startsWith('default/')) quotaInstances.set(inst.ref.slice('default/'.length), inst);
  }
  return Object.freeze({
    generation: version.generation,
    epoch: version.epoch,
    plan,
    handlers,
    checkRules,
    reportRules,
    reportRulesByHandler,
    reportHandlers: Object.freeze(reportHandlers),
    quotaInstances,
    observers: deps.observers ?? NO_OBSERVERS,
    decisionHandlers: Object.freeze(
      [...handlers.values()].filter((h) => h.plan.adapter.capabilities?.includes('decisions') === true && typeof h.handler.decision === 'function'),
    ),
  });
}

/** Handlers of `old` that `next` does not use: to close once `old` is drained. */
export function retiredHandlers(old: Snapshot, next: Snapshot | undefined): HandlerRuntime[] {
  const keep = new Set(next ? [...next.handlers.values()] : []);
  return [...old.handlers.values()].filter((h) => !keep.has(h));
}
