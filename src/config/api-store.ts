import { parseAllDocuments } from 'yaml';
import type { Logger } from 'pino';
import { documentToJs, parseConfigText } from './load';
import { yamlDepthProblem } from './yaml-depth';
import { locate } from './source';
import type { ConfigObject } from './source';
import { MixerError } from '../base/errors';
import type { ErrorDetail } from '../base/errors';

/**
 * The `file` of every config object that came through the config API; its line numbers count lines of
 * the object's text as it was sent. Config files are read by absolute path, so this never names a file.
 */
export const API_SOURCE = 'api';

/** The hidden directory under the config directory where embedded mode keeps API objects. */
export const API_DIR_NAME = '.mixer-api';

/** One object stored through the config API. */
export interface ApiRecord {
  /** `Kind/namespace/name`. */
  key: string;
  /** The one document as the client sent it (YAML or JSON); `${VAR}` in it is never substituted. */
  text: string;
  /** When it was last written, RFC 3339. */
  updatedAt: string;
}

/** Everything an API store holds, read at one version. */
export interface ApiContents {
  /** Changes with every write; opaque: compare for equality only. */
  version: string;
  records: ReadonlyMap<string, ApiRecord>;
}

/** The outcome of a conditional write: `ok` false means the store moved past `ifVersion` (nothing written). */
export interface WriteResult {
  ok: boolean;
  /** The store's version after the write (or, on a conflict, the version that was found). */
  version: string;
}

/**
 * Where config objects created through the API live, shared by every process that reads the same
 * store (Redis), or kept beside the config files (embedded mode). Implementations: `RedisApiStore`,
 * `DirApiStore`.
 */
export interface ApiStore {
  readonly kind: 'redis' | 'directory';
  /** Where the objects are (a Redis key or a directory), for logs and status. */
  readonly location: string;
  /** Reads every object. Rejects when the store cannot be read. */
  list(): Promise<ApiContents>;
  /** Writes `record` (create or replace) unless the store's version is no longer `ifVersion`. */
  put(record: ApiRecord, ifVersion?: string): Promise<WriteResult>;
  /** Removes `key` unless the store's version is no longer `ifVersion`. */
  remove(key: string, ifVersion?: string): Promise<WriteResult>;
  /**
   * Calls `fn` whenever the store may have changed outside this process: with the new version after a
   * write anywhere (this process's own writes included), or with `undefined` after (re)connecting, when
   * changes may have been missed (maybe more than once per reconnect). A store only this process writes
   * never calls it.
   */
  subscribe(fn: (version: string | undefined) => void): void;
  /** Stops notifications and releases connections it opened (not those it was given). Safe twice. */
  close(): Promise<void>;
}

/** A change asked for through the API. */
export type ConfigChange = { op: 'put'; record: ApiRecord } | { op: 'delete'; key: string };

/** An API object hidden by a file object with the same key (the file wins). */
export interface ShadowedObject {
  key: string;
  /** `file:line` of the file object that wins. */
  file: string;
}

/** The config API's part of the status: where its objects live and which ones files hide. */
export interface ApiStatus {
  store: ApiStore['kind'];
  location: string;
  /** Version of the API objects in the live config (null before any were read). */
  version: string | null;
  /** API objects in the live config, hidden ones included. */
  objects: number;
  /** API objects hidden by a file object with the same key: the file wins. */
  shadowed: readonly ShadowedObject[];
  /** Why the store could not be read at the last load (the objects read before keep serving), or null. */
  error: string | null;
}

/** `Kind/namespace/name`. */
export function configKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The key a change is about. */
export function changeKey(c: ConfigChange): string {
  return c.op === 'put' ? c.record.key : c.key;
}

/**
 * Applies `change` to `records` (in place) and says whether its key was there before. Objects from
 * files are read-only (MIXER_ERR_CONFLICT), except that deleting a hidden API object with a file's key
 * is allowed; deleting what neither holds is MIXER_ERR_NOT_FOUND.
 */
export function applyToRecords(records: Map<string, ApiRecord>, files: readonly ConfigObject[], change: ConfigChange): boolean {
  const key = changeKey(change);
  const existed = records.has(key);
  const file = files.find((o) => o.key === key);
  if (file && (change.op === 'put' || !existed)) {
    const at = locate(file.source, []);
    throw new MixerError('MIXER_ERR_CONFLICT', `${key} is defined by a config file (${at}); change it there`, {
      details: [{ field: key, reason: `defined by ${at}; objects from files are read-only through the API` }],
    });
  }
  if (change.op === 'put') records.set(key, change.record);
  else if (existed) records.delete(key);
  else
    throw new MixerError('MIXER_ERR_NOT_FOUND', `no config object ${key}`, { details: [{ field: key, reason: 'not defined by a file nor through the API' }] });
  return existed;
}

/**
 * Parses stored API records into config objects as files are parsed (schema), with `file`
 * {@link API_SOURCE}, but taken as written: no `${VAR}` substitution, so that a caller of the API
 * cannot read Mixer's environment. A record that does not hold exactly one document whose key is its
 * own is an error.
 */
export function parseApiRecords(records: Iterable<ApiRecord>): { objects: ConfigObject[]; errors: ErrorDetail[] } {
  const objects: ConfigObject[] = [];
  const errors: ErrorDetail[] = [];
  for (const r of records) {
    const parsed = parseConfigText(r.text, API_SOURCE, null);
    if (parsed.errors.length > 0) {
      // Name the object after the location, as config errors do: `api:6 Rule/default/x spec.actions`.
      for (const e of parsed.errors) {
        const [where, ...path] = e.field.split(' ');
        errors.push({ field: [where, r.key, ...path].join(' '), reason: e.reason });
      }
      continue;
    }
    if (parsed.objects.length !== 1 || parsed.objects[0].key !== r.key) {
      const found = parsed.objects.map((o) => o.key).join(', ') || 'nothing';
      errors.push({ field: `${API_SOURCE} ${r.key}`, reason: `the stored object holds ${found}, not ${r.key}; delete it and create it again` });
      continue;
    }
    objects.push(parsed.objects[0]);
  }
  return { objects, errors };
}

/** Files and API objects as one config: an API object whose key a file also defines is left out (the file wins). */
export function mergeObjects(files: readonly ConfigObject[], api: readonly ConfigObject[]): { objects: ConfigObject[]; shadowed: ShadowedObject[] } {
  const fromFiles = new Map(files.map((o) => [o.key, o]));
  const objects = [...files];
  const shadowed: ShadowedObject[] = [];
  for (const o of api) {
    const file = fromFiles.get(o.key);
    if (file) shadowed.push({ key: o.key, file: locate(file.source, []) });
    else objects.push(o);
  }
  return { objects, shadowed };
}

/** The document of a stored record as the client sent it; undefined when it does not parse. */
export function rawDocument(text: string): unknown {
  if (yamlDepthProblem(text) !== undefined) return undefined;
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.length === 0 || docs[0].errors.length > 0) return undefined;
  const js = documentToJs(docs[0]);
  return 'value' in js ? js.value : undefined;
}

/** The API part of one load: the records (a change applied), the version read, and why the store could not be read. */
export interface ApiRead {
  records: Map<string, ApiRecord>;
  /** Undefined until the store has been read once. */
  version: string | undefined;
  error: string | null;
}

/**
 * The config store's view of an {@link ApiStore}: the contents last read (they keep serving while the
 * store cannot be read), the records of the live config, and the `api` part of the status.
 */
export class ApiObjects {
  /** Shown as `api` by `GET /v1/config/status`. */
  readonly status: ApiStatus;
  /** Version of the last load's read, whether that load succeeded or not: a notice of it needs no reload. */
  seenVersion: string | undefined;
  private cache: ApiContents | undefined;
  private live: ReadonlyMap<string, ApiRecord> = new Map();
  private shadowedSeen = '';

  constructor(
    readonly store: ApiStore,
    private readonly logger: Logger,
  ) {
    this.status = { store: store.kind, location: store.location, version: null, objects: 0, shadowed: [], error: null };
  }

  /** Reads the store; when it cannot be read, the contents last read (none at first) and why. */
  async read(): Promise<ApiRead> {
    let error: string | null = null;
    try {
      this.cache = await this.store.list();
    } catch (err) {
      error = `${this.store.kind} ${this.store.location}: ${(err as Error).message}`;
    }
    return { records: new Map(this.cache?.records ?? []), version: this.cache?.version, error };
  }

  /** Whether the store now holds another version than the last load read (false when it cannot be read). */
  async moved(): Promise<boolean> {
    const now = await this.store.list().catch(() => undefined);
    return now !== undefined && now.version !== this.seenVersion;
  }

  /** The stored record behind a live API object (hidden ones included). */
  record(key: string): ApiRecord | undefined {
    return this.live.get(key);
  }

  /** Notes what a load read: its version is seen; an unreadable store is logged and shown. */
  loaded(read: ApiRead): void {
    if (!read.error) this.seenVersion = read.version;
    this.status.error = read.error;
    if (read.error) {
      this.logger.error(
        { error: read.error, apiVersion: this.status.version },
        'config API store cannot be read: the API objects read before keep serving (none, if never read); reloading when it is back',
      );
    }
  }

  /** The API objects of a config that just went live; logs the hidden ones when that set changes. */
  wentLive(read: ApiRead, shadowed: ShadowedObject[]): void {
    this.live = read.records;
    Object.assign(this.status, { version: read.version ?? null, objects: read.records.size, shadowed });
    const seen = shadowed.map((s) => s.key).join(',');
    if (seen !== this.shadowedSeen && shadowed.length > 0) {
      this.logger.warn({ shadowed }, `${shadowed.length} config API object(s) hidden by a config file object with the same key: the file wins`);
    }
    this.shadowedSeen = seen;
  }
}
