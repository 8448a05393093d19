import { ConfigError, MixerError } from '../base/errors';
import type { ErrorDetail } from '../base/errors';
import { ApiObjects, changeKey } from '../config/api-store';
import type { ApiRecord, ApiStore, ConfigChange, WriteResult } from '../config/api-store';
import { buildSnapshot, retiredHandlers } from './snapshot';
import type { Snapshot } from './snapshot';
import type { HandlerDeps, HandlerRuntime } from './handler-runtime';
import { compileCandidate, gatherCandidate, recordLoad } from './config-load';
import type { Candidate, LoadSources, ReloadStatus } from './config-load';
import { ConfigWatch } from './config-watch';
import type { ObserverHub } from './observers';
import { LocalGenerations, RedisGenerations } from './generations';
import type { ConfigVersion, Generations } from './generations';

export interface ConfigStoreOptions extends HandlerDeps, LoadSources {
  /** Objects created through the config API, merged with the files on every load. The config store closes it. Unset: files only. */
  api?: ApiStore;
  /** Debounce for file events, ms (default 100). API changes are not debounced. */
  debounceMs?: number;
  /**
   * How long a replaced snapshot's handlers stay open for calls still in flight, ms (default 5 000);
   * every call into an adapter is bounded by its timeout, so this only has to exceed that.
   */
  drainMs?: number;
  /** The tap and decision hub every snapshot carries; told how many decision handlers each live config has. */
  observers?: ObserverHub;
}

/** A change made through the API: the generation that includes it, and whether it created the object. */
export interface ChangeResult {
  generation: number;
  created: boolean;
}

/**
 * Holds the live config snapshot, built from the config directory's files and the config API's objects,
 * and replaces it when either changes. Loads and API changes run one at a time. A bad change is rejected
 * (a reload: logged, counted, shown in status; an API change: refused to the caller) and the last good
 * snapshot keeps serving.
 */
export class ConfigStore {
  private snapshot: Snapshot | undefined;
  private generation = 0;
  private readonly files: ConfigWatch;
  /** Tail of the queue of loads and API changes; never rejects. */
  private lock: Promise<unknown> = Promise.resolve();
  private queuedReload: Promise<void> | undefined;
  private noticeQueued = false;
  private closed = false;
  private readonly api: ApiObjects | undefined;
  /** Replaced handlers waiting for calls in flight to finish, by their drain timer. */
  private readonly draining = new Map<NodeJS.Timeout, HandlerRuntime[]>();
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private readonly generations: Generations;
  readonly status: ReloadStatus = { generation: 0, epoch: null, lastReload: null, lastSuccess: null };

  constructor(private readonly opts: ConfigStoreOptions) {
    this.api = opts.api && new ApiObjects(opts.api, opts.logger);
    if (this.api) this.status.api = this.api.status;
    this.generations = opts.redis ? new RedisGenerations(opts.redis, opts.keyPrefix ?? '', opts.logger) : new LocalGenerations();
    this.generations.onResync(() => {
      if (!this.closed) void this.reload('Redis is back: the config takes the generation the other replicas share');
    });
    this.files = new ConfigWatch({ dir: opts.dir, debounceMs: opts.debounceMs ?? 100, logger: opts.logger, reload: (reason) => this.reload(reason) });
  }

  /** The live snapshot. Throws before the first successful load. */
  get current(): Snapshot {
    if (!this.snapshot) throw new Error('config not loaded');
    return this.snapshot;
  }

  get ready(): boolean {
    return this.snapshot !== undefined;
  }

  /** The stored API record behind a live object, by `Kind/namespace/name` (hidden ones included). */
  apiRecord(key: string): ApiRecord | undefined {
    return this.api?.record(key);
  }

  /** Calls `fn` with every new snapshot (after it is live). */
  onChange(fn: (s: Snapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** First load; throws a ConfigError carrying every problem when the config is invalid. */
  async start(): Promise<Snapshot> {
    await this.reload('start');
    if (!this.snapshot) {
      throw new ConfigError(`invalid config in ${this.opts.dir}`, [...(this.status.lastReload?.errors ?? [])]);
    }
    return this.snapshot;
  }

  /** Watches the config directory (reloads debounced) and the API store (reloads at once). */
  watch(): void {
    if (this.closed || !this.files.start()) return;
    this.api?.store.subscribe((version) => this.onApiNotice(version));
  }

  /** Asks for a reload soon; bursts of events collapse into one. */
  schedule(reason: string): void {
    this.files.schedule(reason);
  }

  /** Loads, checks and, when valid, swaps in a new snapshot. Asked during a load: one more load follows. */
  reload(reason: string): Promise<void> {
    if (this.queuedReload) return this.queuedReload;
    const p = this.serial(async () => {
      this.queuedReload = undefined;
      await this.doReload(reason);
    });
    this.queuedReload = p;
    return p;
  }

  /**
   * Checks the whole config as it would be after `change` (files, API objects, the change), without
   * applying it. Throws MIXER_ERR_CONFLICT when a file defines the key, MIXER_ERR_NOT_FOUND to delete
   * what the API does not hold; otherwise answers every problem (none: valid).
   */
  async validateChange(change: ConfigChange): Promise<{ errors: ErrorDetail[]; created: boolean }> {
    this.requireApi();
    const cand = await gatherCandidate(this.opts, this.api, change);
    return { errors: (await compileCandidate(this.opts, cand)).errors, created: !cand.existed };
  }

  /**
   * Validates `change` against the whole config, stores it, and makes it live here before answering
   * (other processes learn of it from the store). Refused (ConfigError with every problem, or the errors
   * of {@link validateChange}): nothing is stored and the live config is unchanged.
   */
  applyChange(change: ConfigChange): Promise<ChangeResult> {
    const api = this.requireApi().store;
    const key = changeKey(change);
    const what = `${change.op === 'put' ? 'PUT' : 'DELETE'} ${key}`;
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        const t0 = performance.now();
        const cand = await gatherCandidate(this.opts, this.api, change);
        const { plan, errors } = await compileCandidate(this.opts, cand);
        if (!plan || errors.length > 0) {
          this.opts.logger.warn({ change: what, errors }, `config API change refused: ${errors.length} problem(s); the live config is unchanged`);
          throw new ConfigError(`${what} refused: ${errors.length} problem(s); the live config is unchanged`, errors);
        }
        let next: Snapshot;
        try {
          next = await buildSnapshot(plan, await this.version(plan.digest), this.opts, this.snapshot);
        } catch (err) {
          throw new ConfigError(`${what} refused: a handler did not start; the live config is unchanged`, [{ field: key, reason: (err as Error).message }]);
        }
        let written: WriteResult;
        try {
          written = change.op === 'put' ? await api.put(change.record, cand.api!.version) : await api.remove(key, cand.api!.version);
        } catch (err) {
          await this.discard(next);
          throw new MixerError(
            'MIXER_ERR_CONFIG_STORE_UNAVAILABLE',
            `${what}: the config API store (${api.kind} ${api.location}) failed: ${(err as Error).message}; nothing changed`,
            { retryable: true, cause: err },
          );
        }
        if (!written.ok) {
          // Another process changed the store since it was read: validate again against what it holds now.
          await this.discard(next);
          if (attempt < 5) continue;
          throw new MixerError('MIXER_ERR_CONFLICT', `${what}: the config kept changing while it was being validated; try again`, { retryable: true });
        }
        this.api!.seenVersion = written.version;
        this.swap(next, { ...cand, api: { ...cand.api!, version: written.version } });
        this.record(`config API: ${what}`, [], t0);
        return { generation: next.generation, created: !cand.existed };
      }
    });
  }

  private requireApi(): ApiObjects {
    if (!this.api) throw new MixerError('MIXER_ERR_API_DISABLED', 'this process has no config API store');
    return this.api;
  }

  /** Runs `fn` after every load and change asked before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async doReload(reason: string): Promise<void> {
    const t0 = performance.now();
    let errors: ErrorDetail[] = [];
    try {
      const cand = await gatherCandidate(this.opts, this.api);
      if (cand.api) this.api!.loaded(cand.api);
      const compiled = await compileCandidate(this.opts, cand);
      errors = compiled.errors;
      if (compiled.plan) this.swap(await buildSnapshot(compiled.plan, await this.version(compiled.plan.digest), this.opts, this.snapshot), cand);
    } catch (err) {
      errors = err instanceof ConfigError ? [...err.details] : [...errors, { field: this.opts.dir, reason: (err as Error).message }];
    }
    this.record(reason, errors, t0);
  }

  /** The API store changed somewhere (or reconnected): reload at once unless this version is loaded already. */
  private onApiNotice(version: string | undefined): void {
    if (this.closed || (version !== undefined && version === this.api!.seenVersion) || this.noticeQueued) return;
    this.noticeQueued = true;
    this.serial(async () => {
      this.noticeQueued = false;
      if (this.closed || !(await this.api!.moved())) return;
      await this.doReload(version === undefined ? 'config API store connected' : `config API change (version ${version})`);
    }).catch((err) => this.opts.logger.error({ err }, 'config reload crashed'));
  }

  /** Status, metrics and log line of one load. */
  private record(reason: string, errors: ErrorDetail[], t0: number): void {
    recordLoad(this.status, this.opts, { generation: this.generation, snapshot: this.snapshot }, reason, errors, t0);
  }

  /** The version a config with this content takes, coming after the live one. */
  private version(digest: string): Promise<ConfigVersion> {
    return this.generations.assign(digest, this.snapshot && { generation: this.snapshot.generation, epoch: this.snapshot.epoch });
  }

  /** Closes the handlers a candidate snapshot started that the live one does not use. */
  private async discard(candidate: Snapshot): Promise<void> {
    await Promise.all(retiredHandlers(candidate, this.snapshot).map((h) => h.close()));
  }

  private swap(next: Snapshot, cand: Candidate): void {
    const old = this.snapshot;
    this.snapshot = next;
    this.generation = next.generation;
    this.status.generation = next.generation;
    this.status.epoch = next.epoch;
    this.opts.metrics.configGeneration.set(next.generation);
    this.opts.observers?.setDecisionHandlers(next.decisionHandlers.length);
    if (cand.api) this.api?.wentLive(cand.api, cand.shadowed);
    if (old) {
      const retired = retiredHandlers(old, next);
      if (retired.length > 0) {
        const t = setTimeout(() => {
          this.draining.delete(t);
          for (const h of retired) void h.close();
        }, this.opts.drainMs ?? 5_000);
        t.unref();
        this.draining.set(t, retired);
      }
    }
    for (const fn of this.listeners) fn(next);
  }

  /** Stops watching, waits for the load or change in progress, closes the API store and every handler (including retired ones still draining). */
  async close(): Promise<void> {
    this.closed = true;
    await this.files.close();
    await this.lock;
    await this.opts.api?.close();
    const all = new Set(this.snapshot?.handlers.values() ?? []);
    for (const [t, retired] of this.draining) {
      clearTimeout(t);
      for (const h of retired) all.add(h);
    }
    this.draining.clear();
    await Promise.all([...all].map((h) => h.close()));
    this.opts.replicas?.close();
  }
}
