import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from './processes';

/** GET paths Mixer serves, read from the source: src/api/http/app.ts (serve), src/server/worker.ts (worker). */
export function servedPaths(cmd: 'serve' | 'worker'): Set<string> {
  if (cmd === 'serve') {
    const src = readFileSync(path.join(REPO, 'src', 'api', 'http', 'app.ts'), 'utf8');
    return new Set([...src.matchAll(/app\.get\('(\/[^']*)'/g)].map((m) => m[1]));
  }
  const src = readFileSync(path.join(REPO, 'src', 'server', 'worker.ts'), 'utf8');
  return new Set([...src.matchAll(/path === '(\/[^']*)'/g)].map((m) => m[1]));
}

/** Variable names of README's "Settings" table. */
export function readmeSettings(): Set<string> {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Settings'));
  assert.ok(section, 'README.md has a "## Settings" section');
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const first = line.startsWith('|') ? line.split('|')[1] : undefined;
    for (const m of first?.matchAll(/`([A-Z][A-Z0-9_]+)`/g) ?? []) names.add(m[1]);
  }
  return names;
}
