/**
 * Where the mesh CA's roots are kept: operator files (`MIXER_CA_CERT` / `MIXER_CA_KEY`, e.g. a
 * Kubernetes Secret), or generated on first start and kept in Redis (every replica shares one
 * root) or in the config directory (`.ca/roots.json`, mode 0600; one Mixer).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RedisConnection } from '../../base/redis-connect';
import { splitPem } from '../common/pki';

/** One root: its certificate, its key (absent for a root trusted only), and when it signs and until when it is trusted. */
export interface RootEntry {
  cert: string;
  key?: string;
  /** Epoch ms from which this root signs (the newest active root with a key signs). */
  activeFrom: number;
  /** Epoch ms after which it is no longer trusted (an old root in its overlap period); unset: until it expires. */
  trustedUntil?: number;
}

/** Storage of the root set. */
export interface CaRootStore {
  /** Where, for logs and `mixctl ca root`. */
  readonly describe: string;
  /** Whether roots can be generated and rotated here (operator files cannot). */
  readonly writable: boolean;
  /** The roots kept, or undefined when none yet. */
  load(): Promise<RootEntry[] | undefined>;
  /** Keeps `roots` unless roots exist already (another replica was first); answers the roots kept. */
  create(roots: RootEntry[]): Promise<RootEntry[]>;
  /** Replaces the root set (rotation). */
  save(roots: RootEntry[]): Promise<void>;
}

/**
 * Operator files: `MIXER_CA_CERT` holds the signing root first (the one `MIXER_CA_KEY` belongs to)
 * and may list older roots after it, which stay trusted: that is how a root is rotated with files.
 */
export class FileRootStore implements CaRootStore {
  readonly writable = false;
  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
  ) {}
  get describe(): string {
    return `files ${this.certFile} and ${this.keyFile}`;
  }
  async load(): Promise<RootEntry[]> {
    const certs = splitPem(readFileSync(this.certFile, 'utf8'));
    if (certs.length === 0) throw new Error(`MIXER_CA_CERT (${this.certFile}) holds no PEM certificate`);
    const key = readFileSync(this.keyFile, 'utf8');
    return certs.map((cert, i) => (i === 0 ? { cert, key, activeFrom: 0 } : { cert, activeFrom: 0 }));
  }
  create(): Promise<RootEntry[]> {
    return this.load();
  }
  async save(): Promise<void> {
    throw new Error('the CA root comes from MIXER_CA_CERT/MIXER_CA_KEY: rotate it by changing those files');
  }
}

/** `<config dir>/.ca/roots.json` (hidden from the config loader), readable by Mixer's user only. */
export class DirRootStore implements CaRootStore {
  readonly writable = true;
  private readonly file: string;
  constructor(configDir: string) {
    this.file = path.join(configDir, '.ca', 'roots.json');
  }
  get describe(): string {
    return this.file;
  }
  async load(): Promise<RootEntry[] | undefined> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as RootEntry[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  async create(roots: RootEntry[]): Promise<RootEntry[]> {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(this.file, JSON.stringify(roots), { mode: 0o600, flag: 'wx' });
      return roots;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return (await this.load())!;
    }
  }
  async save(roots: RootEntry[]): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(roots), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** `<prefix>ca:roots` in Redis: the first replica to start generates the root, the others read it. */
export class RedisRootStore implements CaRootStore {
  readonly writable = true;
  private readonly key: string;
  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.key = `${prefix}ca:roots`;
  }
  get describe(): string {
    return `Redis key ${this.key}`;
  }
  async load(): Promise<RootEntry[] | undefined> {
    const v = await this.redis.get(this.key);
    return v === null ? undefined : (JSON.parse(v) as RootEntry[]);
  }
  async create(roots: RootEntry[]): Promise<RootEntry[]> {
    const ok = await this.redis.set(this.key, JSON.stringify(roots), 'NX');
    return ok === 'OK' ? roots : ((await this.load()) ?? roots);
  }
  async save(roots: RootEntry[]): Promise<void> {
    await this.redis.set(this.key, JSON.stringify(roots));
  }
}
