import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ApiContents, ApiRecord, ApiStore, WriteResult } from './api-store';

const FILE = /^([A-Za-z]+)_([a-z0-9.-]+)_([a-z0-9.-]+)\.yaml$/;

/** `Kind_namespace_name.yaml`: names are DNS-1123 (no `_`), so the key reads back unambiguously. */
function fileOf(key: string): string {
  const [kind, namespace, name] = key.split('/');
  return `${kind}_${namespace}_${name}.yaml`;
}

/**
 * API objects of embedded mode: one file per object, holding the text as it was sent, in a directory
 * the config loader does not read (by default `<configDir>/.mixer-api/`, hidden). Only this process
 * writes it, so it never notifies; writes go through a temporary file and a rename.
 */
export class DirApiStore implements ApiStore {
  readonly kind = 'directory' as const;
  private version = 0;

  /** `location`: the directory; created on the first write. */
  constructor(readonly location: string) {}

  async list(): Promise<ApiContents> {
    const records = new Map<string, ApiRecord>();
    let names: string[];
    try {
      names = await fs.readdir(this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: String(this.version), records };
      throw err;
    }
    for (const name of names.sort()) {
      const m = FILE.exec(name);
      if (!m) continue;
      const file = path.join(this.location, name);
      try {
        const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
        const key = `${m[1]}/${m[2]}/${m[3]}`;
        records.set(key, { key, text, updatedAt: stat.mtime.toISOString() });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return { version: String(this.version), records };
  }

  async put(record: ApiRecord, ifVersion?: string): Promise<WriteResult> {
    if (ifVersion !== undefined && ifVersion !== String(this.version)) return { ok: false, version: String(this.version) };
    await fs.mkdir(this.location, { recursive: true });
    const file = path.join(this.location, fileOf(record.key));
    const tmp = path.join(this.location, `.${fileOf(record.key)}.${process.pid}.tmp`);
    await fs.writeFile(tmp, record.text);
    await fs.utimes(tmp, new Date(record.updatedAt), new Date(record.updatedAt)).catch(() => undefined);
    await fs.rename(tmp, file);
    return { ok: true, version: String(++this.version) };
  }

  async remove(key: string, ifVersion?: string): Promise<WriteResult> {
    if (ifVersion !== undefined && ifVersion !== String(this.version)) return { ok: false, version: String(this.version) };
    await fs.rm(path.join(this.location, fileOf(key)), { force: true });
    return { ok: true, version: String(++this.version) };
  }

  subscribe(): void {
    /* nothing else writes this directory */
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}
