import { mkdtempSync, copyFileSync, writeFileSync, rmSync, renameSync } from 'node:fs';
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

/** The deny rule of DESIGN.md, verbatim. */
export const DENY_FRONTEND_TO_BACKEND = `apiVersion: mixer/v1
kind: Rule
metadata: {name: deny-frontend-to-backend, namespace: default}
spec:
  match:
    all:
      - {fact: source.labels, path: $.app, operator: equal, value: frontend}
      - {fact: destination.service.name, operator: equal, value: backend}
  actions:
    - {handler: deny-all, instances: [nothing]}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny-all, namespace: default}
spec:
  adapter: denier
  params: {status: {code: 7, message: frontend may not call backend}, validDuration: 5s, validUseCount: 1000}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing, namespace: default}
spec: {template: checknothing, params: {}}
`;
