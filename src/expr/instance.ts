import type { AttributeReader, AttributeValue, Vocabulary } from '../attributes/types';
import type { InstanceValue } from '../sdk/adapter';
import type { TemplateInfo } from '../templates/templates';
import { compileCondition, validateCondition } from '../conditions/condition';
import type { Predicate } from '../conditions/condition';
import { compileExpression, ExpressionError } from './expression';
import type { Evaluator } from './expression';

/** Evaluates an instance's fields against a bag. */
export type InstanceBuilder = (facts: AttributeReader) => InstanceValue;

type Report = (path: ReadonlyArray<string | number>, reason: string) => void;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Compiles one field value: an expression (text, number or boolean) or a switch
 * `{switch: [{when: <condition>, value: <expr>}], default?: <expr>}` whose conditions are
 * json-rules-engine conditions, the same language as a rule's `match`.
 */
function compileField(value: unknown, vocab: Vocabulary, path: Array<string | number>, report: Report): Evaluator | undefined {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    try {
      return compileExpression(value, vocab);
    } catch (err) {
      if (err instanceof ExpressionError) report(path, err.message);
      else throw err;
      return undefined;
    }
  }
  if (isRecord(value) && Array.isArray(value.switch)) {
    const extra = Object.keys(value).filter((k) => k !== 'switch' && k !== 'default');
    if (extra.length > 0) report([...path, extra[0]], `unknown field ${JSON.stringify(extra[0])} in a switch (expected switch, default)`);
    const cases: Array<{ when: Predicate; value: Evaluator }> = [];
    value.switch.forEach((c: unknown, i: number) => {
      const cp = [...path, 'switch', i];
      if (!isRecord(c) || !('when' in c) || !('value' in c)) {
        report(cp, 'each switch case needs `when` (a condition) and `value` (an expression)');
        return;
      }
      const problems = validateCondition(c.when, vocab, '');
      for (const p of problems) report([...cp, 'when'], `${p.field ? `${p.field.replace(/^\./, '')}: ` : ''}${p.reason}`);
      const v = compileField(c.value, vocab, [...cp, 'value'], report);
      if (problems.length === 0 && v) cases.push({ when: compileCondition(c.when as never, vocab), value: v });
    });
    const def = 'default' in value ? compileField(value.default, vocab, [...path, 'default'], report) : undefined;
    return (f) => {
      for (const c of cases) if (c.when(f)) return c.value(f);
      return def ? def(f) : undefined;
    };
  }
  report(path, 'expected an expression (text, number, boolean) or a switch');
  return undefined;
}

/**
 * A map field (e.g. a metric's `dimensions`) evaluated against one reader at a time. It keeps its
 * last reader and result, so the instances of one config that write the same map (Istio's four
 * standard metrics share their 23 dimensions) evaluate it once per bag and share the result.
 * Sound because readers are immutable views of one bag (a `Bag`, or a check's `TrackingReader`,
 * which has already recorded the references the first evaluation made); the shared object is
 * why instance fields are read-only for adapters.
 */
class MapEvaluator {
  private lastReader: AttributeReader | undefined;
  private lastValue: Record<string, AttributeValue> = {};

  constructor(private readonly entries: ReadonlyArray<readonly [string, Evaluator]>) {}

  evaluate(f: AttributeReader): Readonly<Record<string, AttributeValue>> {
    if (f === this.lastReader) return this.lastValue;
    const m: Record<string, AttributeValue> = {};
    const entries = this.entries;
    for (let j = 0; j < entries.length; j++) {
      const v = entries[j][1](f);
      if (v !== undefined) m[entries[j][0]] = v;
    }
    this.lastReader = f;
    this.lastValue = m;
    return m;
  }
}

/**
 * The map evaluators of one config compile, by the map's text (keys in written order and their
 * expressions): identical maps in different instances get one {@link MapEvaluator}.
 */
export class SharedMaps {
  private readonly byText = new Map<string, MapEvaluator>();

  get(source: Readonly<Record<string, unknown>>, entries: ReadonlyArray<readonly [string, Evaluator]>): MapEvaluator {
    const text = JSON.stringify(Object.entries(source));
    let e = this.byText.get(text);
    if (!e) this.byText.set(text, (e = new MapEvaluator(entries)));
    return e;
  }
}

/**
 * Compiles an Instance's params against its template. Problems (unknown or missing fields,
 * bad expressions, undeclared attributes) are reported with their path under `spec.params`.
 */
export function compileInstance(
  ref: string,
  template: TemplateInfo,
  params: Readonly<Record<string, unknown>>,
  vocab: Vocabulary,
  report: Report,
  shared: SharedMaps = new SharedMaps(),
): InstanceBuilder | undefined {
  const exprs: Array<[string, Evaluator]> = [];
  const maps: Array<[string, MapEvaluator]> = [];
  let ok = true;
  const rep: Report = (p, r) => {
    ok = false;
    report(p, r);
  };
  for (const [field, value] of Object.entries(params)) {
    const info = template.fields[field];
    const path = ['spec', 'params', field];
    if (!info) {
      rep(path, `template ${template.name} has no field ${JSON.stringify(field)} (fields: ${Object.keys(template.fields).join(', ') || 'none'})`);
      continue;
    }
    if (info.kind === 'expr') {
      const e = compileField(value, vocab, path, rep);
      if (e) exprs.push([field, e]);
    } else if (!isRecord(value)) {
      rep(path, 'expected a map of name → expression');
    } else {
      const entries: Array<[string, Evaluator]> = [];
      let complete = true;
      for (const [k, v] of Object.entries(value)) {
        const e = compileField(v, vocab, [...path, k], rep);
        if (e) entries.push([k, e]);
        else complete = false;
      }
      if (complete) maps.push([field, shared.get(value, entries)]);
    }
  }
  for (const [field, info] of Object.entries(template.fields)) {
    if (info.required && !(field in params)) rep(['spec', 'params'], `template ${template.name} requires field ${JSON.stringify(field)}`);
  }
  if (!ok) return undefined;
  const name = ref;
  const tpl = template.name;
  return (f) => {
    const fields: Record<string, unknown> = {};
    for (let i = 0; i < exprs.length; i++) {
      const v = exprs[i][1](f);
      if (v !== undefined) fields[exprs[i][0]] = v;
    }
    for (let i = 0; i < maps.length; i++) fields[maps[i][0]] = maps[i][1].evaluate(f);
    return { name, template: tpl, fields };
  };
}
