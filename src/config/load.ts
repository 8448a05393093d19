import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { DEFAULT_NAMESPACE, DOCUMENT_SCHEMAS, KINDS } from './schema';
import type { ConfigDoc, Kind } from './schema';
import { substituteEnv } from './env-subst';
import { detailAt } from './source';
import { yamlDepthProblem } from './yaml-depth';
import type { ConfigObject, ConfigSource } from './source';
import type { ErrorDetail } from '../base/errors';

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<Kind, ValidateFunction>(KINDS.map((k) => [k, ajv.compile(DOCUMENT_SCHEMAS[k])]));

/** The result of reading config: the valid objects and every problem found. */
export interface LoadResult {
  objects: ConfigObject[];
  errors: ErrorDetail[];
}

/** Lists the `.yaml`/`.yml` files under `dir` (recursively, symlinks followed, hidden entries skipped), sorted. */
export async function listConfigFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fs.readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      // Kubernetes mounts a ConfigMap as symlinks into a hidden `..data` folder: follow them.
      let dir = e.isDirectory();
      let file = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fs.stat(p).catch(() => undefined);
        dir = st?.isDirectory() ?? false;
        file = st?.isFile() ?? false;
      }
      if (dir) await walk(p);
      else if (file && /\.ya?ml$/i.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Reads and schema-validates every document in the config directory. */
export async function loadConfigDir(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const result: LoadResult = { objects: [], errors: [] };
  let files: string[];
  try {
    files = await listConfigFiles(dir);
  } catch (err) {
    result.errors.push({ field: dir, reason: `cannot read config directory: ${(err as Error).message}` });
    return result;
  }
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      // A file removed between listing and reading is not an error: the next reload sees the new state.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      result.errors.push({ field: file, reason: (err as Error).message });
      continue;
    }
    const parsed = parseConfigText(text, file, env);
    result.objects.push(...parsed.objects);
    result.errors.push(...parsed.errors);
  }
  return result;
}

/**
 * Parses the YAML (or JSON) text of one file or API body into validated objects. `${VAR}` references
 * are substituted from `env`; `env` null takes the text as written (objects sent through the config API,
 * whose callers must not be able to read Mixer's environment).
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv | null = process.env): LoadResult {
  const result: LoadResult = { objects: [], errors: [] };
  const tooDeep = yamlDepthProblem(text);
  if (tooDeep !== undefined) {
    result.errors.push({ field: file, reason: tooDeep });
    return result;
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    // An empty stream (comments only) parses to an EmptyStream.
    return result;
  }
  docs.forEach((doc, index) => {
    const source: ConfigSource = { file, index, doc, lines };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        result.errors.push({ field: pos ? `${file}:${pos.line}` : file, reason: `YAML: ${e.message.split('\n')[0]}` });
      }
      return;
    }
    if (doc.contents === null) return;
    if (env !== null && text.includes('$')) {
      // As written, before expansion (GET /v1/config shows this); a document that cannot be read is reported below.
      const asWritten = documentToJs(doc);
      const written: unknown = 'value' in asWritten ? asWritten.value : undefined;
      for (const e of substituteEnv(doc, env)) {
        const start = e.node.range?.[0];
        result.errors.push({ field: start === undefined ? file : `${file}:${lines.linePos(start).line}`, reason: e.reason });
      }
      source.written = written;
    }
    const js = documentToJs(doc);
    if ('reason' in js) {
      const start = doc.contents?.range?.[0];
      result.errors.push({ field: start === undefined ? file : `${file}:${lines.linePos(start).line}`, reason: js.reason });
      return;
    }
    const obj = validateDocument(js.value, source, result.errors);
    if (obj) result.objects.push(obj);
  });
  return result;
}

/**
 * The plain value of a parsed YAML document, or why it has none: an alias to an anchor not set before it,
 * or more than 100 aliases (a "billion laughs" document) make `toJS` throw, and such text is a problem of
 * the config, reported like any other, never an exception.
 */
export function documentToJs(doc: Document.Parsed): { value: unknown } | { reason: string } {
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { reason: `YAML: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Schema-checks one parsed document; pushes problems to `errors` and returns the object when valid. */
export function validateDocument(value: unknown, source: ConfigSource, errors: ErrorDetail[]): ConfigObject | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(detailAt(source, [], 'a config document must be a mapping with apiVersion, kind, metadata and spec'));
    return undefined;
  }
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    errors.push(detailAt(source, ['kind'], `unknown kind ${JSON.stringify(kind)}; expected one of ${KINDS.join(', ')}`));
    return undefined;
  }
  const validate = validators.get(kind as Kind)!;
  if (!validate(value)) {
    for (const e of validate.errors ?? []) errors.push(ajvDetail(source, e));
    return undefined;
  }
  const doc = value as ConfigDoc;
  const namespace = doc.metadata.namespace ?? DEFAULT_NAMESPACE;
  return { kind: doc.kind, namespace, name: doc.metadata.name, key: `${doc.kind}/${namespace}/${doc.metadata.name}`, doc, source };
}

function ajvDetail(source: ConfigSource, e: ErrorObject): ErrorDetail {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  let reason = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    path.push(extra);
    reason = `unknown field ${JSON.stringify(extra)}`;
  } else if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    reason = `missing required field ${JSON.stringify(missing)}`;
  } else if (e.keyword === 'const') {
    reason = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  }
  return detailAt(source, path, reason);
}
