import { promises as fs } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import { parseConfigText } from '../../config/load';
import type { LoadResult } from '../../config/load';
import { locate } from '../../config/source';
import type { Kind } from '../../config/schema';
import { usageError } from './errors';

/** One document of a config file given with `-f`, as written (its `${VAR}` left for Mixer to expand). */
export interface FileObject {
  kind: Kind;
  name: string;
  /** `metadata.namespace` as written; undefined when the document has none. */
  namespace?: string;
  /** `file:line` of the document. */
  where: string;
  /** The document's YAML AST, unexpanded. Edit a clone ({@link documentBody} does). */
  doc: Document;
  /** The document as plain data (unexpanded). */
  value: Record<string, unknown>;
}

/**
 * The order `apply` writes kinds in, so each reference is valid when it arrives; `delete` uses the
 * reverse. Kinds not listed (e.g. `RouteRule`) come after these, in file order.
 */
export const APPLY_ORDER: readonly Kind[] = ['AttributeManifest', 'Instance', 'Handler', 'Rule', 'RouteRule', 'PeerAuthentication'];

function rank(kind: Kind): number {
  const i = APPLY_ORDER.indexOf(kind);
  return i < 0 ? APPLY_ORDER.length : i;
}

/**
 * The environment a file is checked with locally: the caller's variables where set, an empty value
 * otherwise, so `${VAR:-default}` takes its default and `${VAR}` is not an error here
 * (Mixer expands `${VAR}` with its own environment when the document arrives).
 */
export function lenientEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return new Proxy({}, { get: (_t, k) => (typeof k === 'string' ? (env[k] ?? '') : undefined) });
}

/** Reads `file` (`-` is stdin). @throws CliError (exit 2) when it cannot be read. */
export async function readFileText(file: string): Promise<string> {
  try {
    if (file !== '-') return await fs.readFile(file, 'utf8');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw usageError(`-f: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** `field: reason` lines of load problems. */
export function problemLines(errors: LoadResult['errors']): string[] {
  return errors.map((e) => `  ${e.field}: ${e.reason}`);
}

/**
 * Parses and schema-checks the text of a config file (several documents allowed).
 * Returns the objects and every problem (`file:line Kind/namespace/name path: reason`), including
 * an object defined twice in the file.
 */
export function parseObjects(text: string, file: string): { objects: FileObject[]; checked: LoadResult } {
  const checked = parseConfigText(text, file, lenientEnv());
  const raw = parseAllDocuments(text);
  const docs = Array.isArray(raw) ? raw : [];
  const objects: FileObject[] = [];
  const seen = new Map<string, string>();
  for (const o of checked.objects) {
    const doc = docs[o.source.index];
    const where = locate(o.source, []);
    const value = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
    const namespace = (value.metadata as { namespace?: unknown } | undefined)?.namespace;
    const id = `${o.kind}/${typeof namespace === 'string' ? namespace : ''}/${o.name}`;
    const prev = seen.get(id);
    if (prev) checked.errors.push({ field: `${where} ${o.kind}/${o.name}`, reason: `defined twice in the file (also at ${prev})` });
    seen.set(id, where);
    objects.push({ kind: o.kind, name: o.name, namespace: typeof namespace === 'string' ? namespace : undefined, where, doc, value });
  }
  return { objects, checked };
}

/**
 * Reads a config file for `apply`/`delete`/`rule`: every document must pass the schema.
 * @throws CliError (exit 2) listing every problem with its line, or when the file holds no document.
 */
export async function readConfigFile(file: string): Promise<FileObject[]> {
  const text = await readFileText(file);
  const { objects, checked } = parseObjects(text, file);
  if (checked.errors.length > 0) throw usageError(`${file}: invalid config, ${checked.errors.length} problem(s):`, problemLines(checked.errors));
  if (objects.length === 0) throw usageError(`${file}: no config documents in the file`);
  return objects;
}

/** `objects` in {@link APPLY_ORDER} (file order within a kind; other kinds last). */
export function applyOrder<T extends { kind: Kind }>(objects: readonly T[]): T[] {
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i)
    .map((x) => x.o);
}

/** The reverse of {@link applyOrder}: other kinds, then Rule, Handler, Instance, AttributeManifest. */
export function deleteOrder<T extends { kind: Kind }>(objects: readonly T[]): T[] {
  return applyOrder(objects).reverse();
}

/**
 * The YAML body sent for one object: the document as written, with `metadata.namespace` set to
 * `namespace`, and whatever `edit` changes (on a clone; the object is not changed).
 */
export function documentBody(obj: FileObject, namespace: string, edit?: (doc: Document) => void): string {
  const doc = obj.doc.clone();
  doc.setIn(['metadata', 'namespace'], namespace);
  edit?.(doc);
  return String(doc).replace(/^---\s*\n/, '');
}

/** The URL path of one object: `/v1/config/{Kind}/{namespace}/{name}`. */
export function objectPath(kind: string, namespace: string, name: string): string {
  return `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}
