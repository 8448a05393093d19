import * as path from 'node:path';
import { existsSync } from 'node:fs';
import type { ConfigObject } from '../../config/source';
import { usageError } from './errors';
import { lenientEnv, parseObjects, problemLines, readFileText } from './documents';
import { emit } from './output';
import type { OutputFormat } from './output';

/** Mixer's own default config (`rules/` of this package): the context `validate` checks a file in by default. */
export const BUNDLED_RULES_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'rules');

/**
 * `mixctl validate -f file [--with dir]`, locally: the schema of every document, then the file
 * compiled together with the config in `dir` (default: Mixer's bundled `rules/`), so references,
 * attribute names and adapter params are checked as Mixer would. File objects replace objects of
 * `dir` with the same kind, namespace and name.
 * @throws CliError (exit 2) listing every problem with its line.
 */
export async function validateCommand(format: OutputFormat, file: string, withDir: string = BUNDLED_RULES_DIR): Promise<void> {
  const text = await readFileText(file);
  const { objects, checked } = parseObjects(text, file);
  if (checked.errors.length === 0 && objects.length === 0) throw usageError(`${file}: no config documents in the file`);
  const problems = [...checked.errors];
  let contextCount = 0;
  if (problems.length === 0) {
    if (!existsSync(withDir)) throw usageError(`--with: ${withDir} does not exist`);
    const [{ loadConfigDir }, { compileConfig }, { adapterInventory }] = await Promise.all([
      import('../../config/load'),
      import('../../config/compile'),
      import('../../../adapters/index'),
    ]);
    const context = await loadConfigDir(withDir, lenientEnv());
    const keys = new Set(checked.objects.map((o) => o.key));
    const same = file === '-' ? '' : path.resolve(file);
    const kept: ConfigObject[] = context.objects.filter((o) => !keys.has(o.key) && path.resolve(o.source.file) !== same);
    contextCount = kept.length;
    problems.push(...context.errors.map((e) => ({ field: `(in ${withDir}) ${e.field}`, reason: e.reason })));
    problems.push(...compileConfig([...kept, ...checked.objects], adapterInventory()).errors);
  }
  const result = { file, valid: problems.length === 0, objects: objects.length, context: withDir, problems };
  if (problems.length > 0) {
    if (format !== 'table') emit(format, result, () => '');
    throw usageError(`${file}: invalid, ${problems.length} problem(s):`, problemLines(problems));
  }
  emit(
    format,
    result,
    () =>
      `${file}: valid: ${objects.length} object(s) (${objects.map((o) => `${o.kind}/${o.namespace ?? 'default'}/${o.name}`).join(', ')}), checked with ${contextCount} object(s) of ${withDir}`,
  );
}
