import type { AttributeReader, AttributeValue, Vocabulary } from '../attributes/types';
import type { InstanceValue } from '../sdk/adapter';
import type { TemplateInfo } from '../templates/templates';
import { compileCondition, validateCondition } from '../policy/condition';
import type { Predicate } from '../policy/condition';
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
 * Compiles an Instance's params against its template. Problems (unknown or missing fields,
 * bad expressions, undeclared attributes) are reported with their path under `spec.params`.
 */
export function compileInstance(
  ref: string,
  template: TemplateInfo,
  params: Readonly<Record<string, unknown>>,
  vocab: Vocabulary,
  report: Report,
): InstanceBuilder | undefined {
  const exprs: Array<[string, Evaluator]> = [];
  const maps: Array<[string, Array<[string, Evaluator]>]> = [];
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
      for (const [k, v] of Object.entries(value)) {
        const e = compileField(v, vocab, [...path, k], rep);
        if (e) entries.push([k, e]);
      }
      maps.push([field, entries]);
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
    for (let i = 0; i < maps.length; i++) {
      const m: Record<string, AttributeValue> = {};
      const entries = maps[i][1];
      for (let j = 0; j < entries.length; j++) {
        const v = entries[j][1](f);
        if (v !== undefined) m[entries[j][0]] = v;
      }
      fields[maps[i][0]] = m;
    }
    return { name, template: tpl, fields };
  };
}
