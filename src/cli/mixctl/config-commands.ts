import { KINDS } from '../../config/schema';
import type { Kind } from '../../config/schema';
import type { Document } from 'yaml';
import type { MixerClient } from './client';
import { CliError, usageError } from './errors';
import { applyOrder, deleteOrder, documentBody, objectPath, readConfigFile } from './documents';
import type { FileObject } from './documents';
import { emit, emitDocuments, renderTable, writeOut } from './output';
import type { OutputFormat } from './output';

/** Every kind by its lower-case name and plural, and `manifest(s)` for AttributeManifest. */
const KIND_ALIASES: Readonly<Record<string, Kind>> = Object.fromEntries([
  ...KINDS.flatMap((k) => [
    [k.toLowerCase(), k],
    [`${k.toLowerCase()}s`, k],
  ]),
  ['manifest', 'AttributeManifest'],
  ['manifests', 'AttributeManifest'],
]) as Record<string, Kind>;

/** A kind as typed (`rule`, `Rules`, `handler`, `manifest`, ...). @throws CliError (exit 2). */
export function parseKind(text: string): Kind {
  const k = KIND_ALIASES[text.toLowerCase()];
  if (!k) throw usageError(`unknown kind ${JSON.stringify(text)}; expected one of ${KINDS.join(', ')} (or rule, handler, instance, manifest)`);
  return k;
}

/** The namespace flag: its value and whether the user typed it. */
export interface NamespaceFlag {
  value: string;
  explicit: boolean;
}

/** A config object as `GET /v1/config` lists it. */
export interface ListedObject {
  kind: string;
  namespace: string;
  name: string;
  /** The document (`apiVersion`, `kind`, `metadata`, `spec`). */
  doc: Record<string, unknown>;
  /** Where Mixer has it from (a file, or `api`), when it says. */
  source?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads one object of a config answer: a bare document (`GET /v1/config/{Kind}/{ns}/{name}`), or a
 * listing entry `{kind, namespace, name, source, file?}` (whose `doc` is then only what the entry says).
 */
export function normalizeItem(item: unknown): ListedObject | undefined {
  if (!isObj(item)) return undefined;
  const doc = isObj(item.doc) ? item.doc : isObj(item.object) ? item.object : item;
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const kind = typeof item.kind === 'string' ? item.kind : doc.kind;
  const name = typeof item.name === 'string' ? item.name : meta.name;
  if (typeof kind !== 'string' || typeof name !== 'string') return undefined;
  const namespace = typeof item.namespace === 'string' ? item.namespace : typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const src = typeof item.file === 'string' ? item.file : isObj(item.source) ? item.source.file : item.source;
  return { kind, namespace, name, doc, source: typeof src === 'string' ? src : undefined };
}

/** Reads the answer of `GET /v1/config`: `{items: [...]}` (or a bare array). */
export function normalizeList(body: unknown): ListedObject[] {
  const items = Array.isArray(body) ? body : isObj(body) ? (body.items ?? body.objects) : undefined;
  if (!Array.isArray(items)) throw new CliError(1, `GET /v1/config: unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
  return items.map(normalizeItem).filter((o): o is ListedObject => o !== undefined);
}

/** Calls `fn` on every item, at most `limit` at a time, keeping the order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** One object's document (`GET /v1/config/{Kind}/{namespace}/{name}`). */
export async function getObject(client: MixerClient, kind: string, namespace: string, name: string): Promise<ListedObject> {
  const one = normalizeItem(await client.json('GET', objectPath(kind, namespace, name)));
  if (!one) throw new CliError(1, `GET ${objectPath(kind, namespace, name)}: the answer is not a config object`);
  return one;
}

/**
 * The config objects Mixer has (`GET /v1/config`, filtered by kind and namespace when given), each
 * with its full document (fetched one by one when the listing carries none).
 */
export async function listObjects(client: MixerClient, filter: { kind?: string; namespace?: string } = {}): Promise<ListedObject[]> {
  const listed = normalizeList(await client.json('GET', '/v1/config', { query: filter }));
  return mapLimit(listed, 8, async (o) => (isObj(o.doc.spec) ? o : { ...(await getObject(client, o.kind, o.namespace, o.name)), source: o.source }));
}

/** One-line summary of an object for tables. */
export function summary(o: ListedObject): string {
  const spec = isObj(o.doc.spec) ? o.doc.spec : {};
  if (o.kind === 'Handler') return `adapter ${String(spec.adapter)}`;
  if (o.kind === 'Instance') return `template ${String(spec.template)}`;
  if (o.kind === 'AttributeManifest') return `${isObj(spec.attributes) ? Object.keys(spec.attributes).length : 0} attributes`;
  if (o.kind === 'Rule' && Array.isArray(spec.actions)) {
    const actions = (spec.actions as Obj[]).map((a) => `${String(a.handler)}(${Array.isArray(a.instances) ? a.instances.join(',') : ''})`).join(' ');
    return `${spec.match === undefined || spec.match === null ? 'always' : 'match'} → ${actions}`;
  }
  return '';
}

function objectsTable(objects: readonly ListedObject[]): string {
  if (objects.length === 0) return 'No objects found.';
  const withSource = objects.some((o) => o.source !== undefined);
  const header = ['kind', 'namespace', 'name', 'summary', ...(withSource ? ['source'] : [])];
  return renderTable(
    header,
    objects.map((o) => [o.kind, o.namespace, o.name, summary(o), ...(withSource ? [o.source ?? ''] : [])]),
  );
}

/** The namespace of one file object: its own, else `-n`'s. @throws CliError (exit 2) when both are given and differ. */
function namespaceOf(obj: FileObject, ns: NamespaceFlag): string {
  if (obj.namespace !== undefined && ns.explicit && obj.namespace !== ns.value) {
    throw usageError(`${obj.where} ${obj.kind}/${obj.name}: metadata.namespace is ${obj.namespace} but -n ${ns.value} was given`);
  }
  return obj.namespace ?? ns.value;
}

/** One PUT or DELETE done, for the output. */
interface Done {
  kind: string;
  namespace: string;
  name: string;
  result: string;
}

/** Runs `steps` in order, printing each as it is done (table output); on an error says what was done before it. */
async function runSteps(format: OutputFormat, steps: ReadonlyArray<() => Promise<Done>>): Promise<Done[]> {
  const done: Done[] = [];
  for (const step of steps) {
    let d: Done;
    try {
      d = await step();
    } catch (err) {
      if (err instanceof CliError && done.length > 0) {
        throw new CliError(
          err.exitCode,
          err.message,
          [
            ...err.lines,
            `${done.length} of ${steps.length} object(s) were done before this error: ${done.map((x) => `${x.kind}/${x.namespace}/${x.name}`).join(', ')}`,
          ],
          err.status,
        );
      }
      throw err;
    }
    done.push(d);
    if (format === 'table') writeOut(`${d.kind}/${d.namespace}/${d.name} ${d.result}`);
  }
  if (format !== 'table') emit(format, done, () => '');
  return done;
}

/**
 * `PUT`s each object in {@link applyOrder}. `edit` may change a document before it is sent.
 * @returns what was done.
 */
export async function putObjects(
  client: MixerClient,
  format: OutputFormat,
  objects: readonly FileObject[],
  namespace: (o: FileObject) => string,
  edit?: (o: FileObject, doc: Document) => void,
): Promise<Done[]> {
  const steps = applyOrder(objects).map((o) => async (): Promise<Done> => {
    const ns = namespace(o);
    let a;
    try {
      a = await client.send('PUT', objectPath(o.kind, ns, o.name), { body: documentBody(o, ns, edit && ((d) => edit(o, d))), contentType: 'application/yaml' });
    } catch (err) {
      // Mixer's lines (`api:6`) count lines of the document as sent; say where it is in the file.
      if (err instanceof CliError && err.status === 400)
        throw new CliError(
          err.exitCode,
          err.message,
          [...err.lines, `  (the document is at ${o.where}; "api:<line>" counts lines of the document as mixctl sent it)`],
          err.status,
        );
      throw err;
    }
    return { kind: o.kind, namespace: ns, name: o.name, result: a.status === 201 ? 'created' : 'configured' };
  });
  return runSteps(format, steps);
}

/** `DELETE`s each object in {@link deleteOrder}; with `ignoreNotFound` a 404 is not an error. */
export async function deleteObjects(
  client: MixerClient,
  format: OutputFormat,
  objects: ReadonlyArray<{ kind: Kind; name: string; ns: string }>,
  ignoreNotFound: boolean,
): Promise<Done[]> {
  const steps = objects.map((o) => async (): Promise<Done> => {
    try {
      await client.send('DELETE', objectPath(o.kind, o.ns, o.name));
      return { kind: o.kind, namespace: o.ns, name: o.name, result: 'deleted' };
    } catch (err) {
      if (ignoreNotFound && err instanceof CliError && err.status === 404)
        return { kind: o.kind, namespace: o.ns, name: o.name, result: 'not found (ignored)' };
      throw err;
    }
  });
  return runSteps(format, steps);
}

/** `mixctl apply -f file`: every document, in an order that keeps references valid. */
export async function applyCommand(client: MixerClient, format: OutputFormat, file: string, ns: NamespaceFlag): Promise<void> {
  const objects = await readConfigFile(file);
  for (const o of objects) namespaceOf(o, ns);
  await putObjects(client, format, objects, (o) => namespaceOf(o, ns));
}

/** `mixctl delete <kind> <name>` or `mixctl delete -f file` (reverse apply order). */
export async function deleteCommand(
  client: MixerClient,
  format: OutputFormat,
  args: { kind?: string; name?: string; file?: string; ignoreNotFound: boolean },
  ns: NamespaceFlag,
): Promise<void> {
  if (args.file !== undefined) {
    if (args.kind !== undefined) throw usageError('delete: give either <kind> <name> or -f <file>, not both');
    const objects = await readConfigFile(args.file);
    const targets = deleteOrder(objects).map((o) => ({ kind: o.kind, name: o.name, ns: namespaceOf(o, ns) }));
    await deleteObjects(client, format, targets, args.ignoreNotFound);
    return;
  }
  if (args.kind === undefined || args.name === undefined) throw usageError('delete: give <kind> <name> (e.g. delete rule deny-frontend) or -f <file>');
  await deleteObjects(client, format, [{ kind: parseKind(args.kind), name: args.name, ns: ns.value }], args.ignoreNotFound);
}

/** `mixctl get [kind] [name]`: the objects of a namespace (or all with `allNamespaces`), or one object. */
export async function getCommand(
  client: MixerClient,
  format: OutputFormat,
  args: { kind?: string; name?: string; allNamespaces: boolean },
  ns: NamespaceFlag,
): Promise<void> {
  const kind = args.kind === undefined ? undefined : parseKind(args.kind);
  if (kind !== undefined && args.name !== undefined) {
    const one = await getObject(client, kind, ns.value, args.name);
    emitDocuments(format, [one.doc], () => objectsTable([one]), true);
    return;
  }
  const objects = await listObjects(client, { kind, namespace: args.allNamespaces ? undefined : ns.value });
  emitDocuments(
    format,
    objects.map((o) => o.doc),
    () => objectsTable(objects),
  );
}
