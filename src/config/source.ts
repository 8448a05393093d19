import type { Document, LineCounter } from 'yaml';
import type { ConfigDoc, Kind } from './schema';
import type { ErrorDetail } from '../base/errors';

/** Where a config object came from: a document in a file (with its AST for line numbers), or the API. */
export interface ConfigSource {
  /** File path as given to the loader (relative to the cwd when relative), or `api`. */
  file: string;
  /** 0-based index of the document in its file. */
  index: number;
  doc?: Document;
  lines?: LineCounter;
  /**
   * The document as written, before `${VAR}` substitution; set only for file documents in which a
   * substitution happened. What the config API shows, so that it never reveals the environment.
   */
  written?: unknown;
}

/** One validated document. */
export interface ConfigObject {
  kind: Kind;
  namespace: string;
  name: string;
  /** `Kind/namespace/name`: unique in a config. */
  key: string;
  doc: ConfigDoc;
  source: ConfigSource;
}

/** `file:line` of the node at `path` (or of its nearest existing parent). */
export function locate(source: ConfigSource, path: ReadonlyArray<string | number>): string {
  if (!source.doc || !source.lines) return source.file;
  for (let n = path.length; n >= 0; n--) {
    const node = source.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      return `${source.file}:${source.lines.linePos(node.range[0]).line}`;
    }
  }
  const contents = source.doc.contents as { range?: [number, number, number] } | null;
  return contents?.range ? `${source.file}:${source.lines.linePos(contents.range[0]).line}` : source.file;
}

/** Renders a path like `spec.actions[0].handler`. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** An error detail pointing at `path` inside a config object: field is `file:line kind/ns/name path`. */
export function detailAt(obj: Pick<ConfigObject, 'source' | 'key'> | ConfigSource, path: ReadonlyArray<string | number>, reason: string): ErrorDetail {
  const source = 'source' in obj ? obj.source : obj;
  const what = 'key' in obj ? ` ${obj.key}` : '';
  return { field: `${locate(source, path)}${what} ${formatPath(path)}`.trim(), reason };
}
