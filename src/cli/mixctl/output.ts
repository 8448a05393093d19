import { stringify as yamlStringify } from 'yaml';
import { usageError } from './errors';

/** Output formats of `-o/--output`: `table` for people (the default), `json` and `yaml` for scripts. */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Checks `-o`'s value. @throws CliError (exit 2) naming the flag. */
export function outputFormat(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) throw usageError(`-o/--output: ${JSON.stringify(v)} is not one of ${OUTPUT_FORMATS.join(', ')}`);
  return v as OutputFormat;
}

/** Writes text to stdout, ending it with a newline. */
export function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes text to stderr, ending it with a newline. */
export function writeErr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Pretty JSON (2-space indent). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Block-style YAML. */
export function toYaml(value: unknown): string {
  return yamlStringify(value, { lineWidth: 0 });
}

/**
 * Aligned columns with an upper-case header; cells are single-line (newlines become spaces).
 * Returns the header alone when there are no rows.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const clean = (s: string): string => s.replace(/\s*\n\s*/g, ' ');
  const all = [header.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(clean))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i])))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** `label: value` lines with the values aligned; a value of several lines is indented under the first. */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields
    .map(([k, v]) => {
      const [first, ...rest] = v.split('\n');
      return [`${`${k}:`.padEnd(width)}  ${first}`.trimEnd(), ...rest.map((l) => `${' '.repeat(width + 2)}${l}`)].join('\n');
    })
    .join('\n')
    .concat('\n');
}

/**
 * Prints `data` as the format asks: JSON or YAML of `data` itself, or for `table` what `table()` renders.
 */
export function emit(format: OutputFormat, data: unknown, table: () => string): void {
  if (format === 'json') writeOut(toJson(data));
  else if (format === 'yaml') writeOut(toYaml(data));
  else writeOut(table());
}

/**
 * Prints config documents: `yaml` as a multi-document stream (`---` between documents, so the
 * output can be given back to `mixctl apply -f`), `json` as an array (or the one object), or a table.
 */
export function emitDocuments(format: OutputFormat, docs: readonly unknown[], table: () => string, single = false): void {
  if (format === 'yaml') writeOut(docs.map((d) => toYaml(d)).join('---\n') || '# no objects\n');
  else if (format === 'json') writeOut(toJson(single ? docs[0] : docs));
  else writeOut(table());
}
