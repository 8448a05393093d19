import { mkdtempSync, copyFileSync, writeFileSync, rmSync, renameSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './processes';

/** A temporary config directory holding the default attribute manifest; `write` replaces files atomically. */
export class TempConfigDir {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-config-'));

  constructor(withManifest = true) {
    if (withManifest) copyFileSync(path.join(REPO, 'rules', 'attributes.yaml'), path.join(this.dir, 'attributes.yaml'));
  }

  /** Writes a file via rename, so the watcher never sees a half-written file. */
  write(name: string, text: string): string {
    const p = path.join(this.dir, name);
    const tmp = path.join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, p);
    return p;
  }

  remove(name: string): void {
    rmSync(path.join(this.dir, name), { force: true });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The deny rule of DESIGN.md, verbatim (docs/examples/deny-frontend-to-backend.yaml). */
export const DENY_FRONTEND_TO_BACKEND = readFileSync(path.join(REPO, 'docs', 'examples', 'deny-frontend-to-backend.yaml'), 'utf8');
