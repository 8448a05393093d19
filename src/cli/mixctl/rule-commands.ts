import { isMap, isScalar } from 'yaml';
import type { Document, Node, YAMLSeq } from 'yaml';
import type { MixerClient } from './client';
import { usageError } from './errors';
import { deleteOrder, readConfigFile } from './documents';
import type { FileObject } from './documents';
import { deleteObjects, listObjects, putObjects } from './config-commands';
import type { ListedObject } from './config-commands';
import { emitDocuments, renderTable } from './output';
import type { OutputFormat } from './output';

/**
 * `mixctl rule create|get|delete <scope> <subject>`, the form of Istio 0.x's
 * `istioctl mixer rule create global bar.default.svc.cluster.local -f file.yaml`, mapped onto the
 * config API: the file's objects go to namespace `<scope>` (`global` is `default`) and every Rule's
 * match gains `destination.service.host == <subject>`.
 */

/** The attribute a rule's subject is matched on. */
export const SUBJECT_FACT = 'destination.service.host';

const NAMESPACE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The namespace of a scope: `global` is `default`; any other scope is a namespace name. @throws CliError (exit 2). */
export function scopeNamespace(scope: string): string {
  if (scope === 'global') return 'default';
  if (!NAMESPACE.test(scope)) throw usageError(`<scope>: ${JSON.stringify(scope)} is neither "global" nor a namespace name (lower case, digits, "-", ".")`);
  return scope;
}

/** Checks a subject (a service host such as `backend.default.svc.cluster.local`). @throws CliError (exit 2). */
export function checkSubject(subject: string): string {
  if (subject.trim() === '' || /\s/.test(subject)) throw usageError(`<subject>: ${JSON.stringify(subject)} is not a service host`);
  return subject;
}

/** The condition a subject adds: `{fact: destination.service.host, operator: equal, value: <subject>}`. */
export function subjectCondition(subject: string): { fact: string; operator: 'equal'; value: string } {
  return { fact: SUBJECT_FACT, operator: 'equal', value: subject };
}

const absent = (m: unknown): boolean => m === undefined || m === null;

/**
 * A rule match restricted to one subject: `{all: [<match>, <subject condition>]}`, or
 * `{all: [<subject condition>]}` when the rule had no match (a top-level condition must be all/any/not).
 */
export function withSubject(match: unknown, subject: string): { all: unknown[] } {
  return { all: absent(match) ? [subjectCondition(subject)] : [match, subjectCondition(subject)] };
}

/**
 * {@link withSubject} on a YAML document, in place: the original match node is kept as written
 * (comments, `${VAR}`), wrapped in an `all` with the subject condition.
 */
export function addSubjectToDocument(doc: Document, subject: string): void {
  if (!isMap(doc.getIn(['spec'], true))) throw usageError('a Rule without a spec mapping');
  const original = doc.getIn(['spec', 'match'], true) as Node | undefined;
  const none = original === undefined || (isScalar(original) && original.value === null);
  const wrapped = doc.createNode(none ? withSubject(undefined, subject) : { all: [null, subjectCondition(subject)] });
  if (!none) (wrapped as unknown as { get(k: string, keep: true): YAMLSeq }).get('all', true).items[0] = original;
  doc.setIn(['spec', 'match'], wrapped);
}

/** Whether a match condition tests `destination.service.host` for `subject` (`equal`, or `in` a list holding it), anywhere in it. */
export function matchMentions(match: unknown, subject: string): boolean {
  if (Array.isArray(match)) return match.some((m) => matchMentions(m, subject));
  if (typeof match !== 'object' || match === null) return false;
  const c = match as Record<string, unknown>;
  if (c.fact === SUBJECT_FACT) {
    if (c.operator === 'equal' && c.value === subject) return true;
    if (c.operator === 'in' && Array.isArray(c.value) && c.value.includes(subject)) return true;
  }
  return ['all', 'any', 'not'].some((k) => matchMentions(c[k], subject));
}

const OPERATORS: Readonly<Record<string, string>> = {
  equal: '==',
  notEqual: '!=',
  lessThan: '<',
  lessThanInclusive: '<=',
  greaterThan: '>',
  greaterThanInclusive: '>=',
  in: 'in',
  notIn: 'not in',
};

/**
 * A condition for people: `source.labels[app] == "frontend" and destination.service.host == "backend"`
 * (nested `all` inside `all` flattened, other groups in parentheses); `always` when there is none.
 */
export function describeCondition(c: unknown, top = true): string {
  if (absent(c)) return 'always';
  if (typeof c !== 'object' || c === null) return JSON.stringify(c);
  const o = c as Record<string, unknown>;
  const group = (items: unknown, join: string, flatten: string): string => {
    const parts = (Array.isArray(items) ? (items as unknown[]) : []).map((i) =>
      i && typeof i === 'object' && flatten in i && Object.keys(i).length === 1 ? describeCondition(i, true) : describeCondition(i, false),
    );
    const text = parts.join(` ${join} `);
    return top || parts.length < 2 ? text : `(${text})`;
  };
  if ('all' in o) return group(o.all, 'and', 'all');
  if ('any' in o) return group(o.any, 'or', 'any');
  if ('not' in o) return `not ${describeCondition(o.not, false)}`;
  const key = typeof o.path === 'string' ? /^\$(?:\.(.+)|\['(.+)'\]|\["(.+)"\])$/.exec(o.path) : null;
  const fact = `${String(o.fact)}${key ? `[${key[1] ?? key[2] ?? key[3]}]` : typeof o.path === 'string' ? o.path.slice(1) : ''}`;
  return `${fact} ${OPERATORS[String(o.operator)] ?? String(o.operator)} ${JSON.stringify(o.value)}`;
}

/** The rules of `namespace` whose match mentions `subject`. */
export function rulesFor(objects: readonly ListedObject[], namespace: string, subject: string): ListedObject[] {
  return objects.filter(
    (o) => o.kind === 'Rule' && o.namespace === namespace && matchMentions((o.doc.spec as { match?: unknown } | undefined)?.match, subject),
  );
}

/** `rule create <scope> <subject> -f file`: apply the file's objects in the scope's namespace, each Rule restricted to the subject. */
export async function ruleCreate(client: MixerClient, format: OutputFormat, scope: string, subject: string, file: string): Promise<void> {
  const ns = scopeNamespace(scope);
  checkSubject(subject);
  const objects = await readConfigFile(file);
  await putObjects(
    client,
    format,
    objects,
    () => ns,
    (o: FileObject, doc: Document) => {
      if (o.kind === 'Rule') addSubjectToDocument(doc, subject);
    },
  );
}

/** `rule get <scope> <subject>`: the rules in the scope's namespace whose match mentions the subject. */
export async function ruleGet(client: MixerClient, format: OutputFormat, scope: string, subject: string): Promise<void> {
  const ns = scopeNamespace(scope);
  checkSubject(subject);
  const rules = rulesFor(await listObjects(client, { kind: 'Rule', namespace: ns }), ns, subject);
  emitDocuments(
    format,
    rules.map((r) => r.doc),
    () => {
      if (rules.length === 0) return `No rules for ${subject} in namespace ${ns}.`;
      return renderTable(
        ['namespace', 'name', 'match', 'actions'],
        rules.map((r) => {
          const spec = (r.doc.spec ?? {}) as { match?: unknown; actions?: Array<{ handler?: string; instances?: string[] }> };
          return [
            r.namespace,
            r.name,
            describeCondition(spec.match),
            (spec.actions ?? []).map((a) => `${a.handler}(${(a.instances ?? []).join(',')})`).join(' '),
          ];
        }),
      );
    },
  );
}

/** `rule delete <scope> <subject> -f file`: delete what `rule create` made from the same file (Rules first). */
export async function ruleDelete(
  client: MixerClient,
  format: OutputFormat,
  scope: string,
  subject: string,
  file: string,
  ignoreNotFound: boolean,
): Promise<void> {
  const ns = scopeNamespace(scope);
  checkSubject(subject);
  const objects = await readConfigFile(file);
  await deleteObjects(
    client,
    format,
    deleteOrder(objects).map((o) => ({ kind: o.kind, name: o.name, ns })),
    ignoreNotFound,
  );
}
