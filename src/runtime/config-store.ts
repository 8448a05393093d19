import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { AdapterFactory } from '../sdk/adapter';
import { ConfigError } from '../errors';
import type { ErrorDetail } from '../errors';
import { loadConfigDir } from '../config/load';
import { compileConfig } from '../config/compile';
import type { ConfigObject } from '../config/source';
import type { HandlerDoc } from '../config/schema';
import { buildSnapshot, retiredHandlers } from './snapshot';
import type { Snapshot } from './snapshot';
import type { HandlerDeps, HandlerRuntime } from './handler-runtime';

/** The outcome of the last load, as shown by `GET /v1/config/status`. */
export interface ReloadStatus {
  generation: number;
  lastReload: { at: string; ok: boolean; reason: string; durationMs: number; errors: readonly ErrorDetail[] } | null;
  lastSuccess: string | null;
}

export interface ConfigStoreOptions extends HandlerDeps {
  dir: string;
  /** Built-in adapters by name. */
  adapters: ReadonlyMap<string, AdapterFactory>;
  /**
   * Finds adapters that are not built in (operator plugins), by the names Handlers use; called on
   * every load before validation. Unset: only built-ins exist.
   */
  resolveAdapters?: (names: readonly string[]) => Promise<{ adapters: ReadonlyMap<string, AdapterFactory>; errors: ErrorDetail[] }>;
  env?: NodeJS.ProcessEnv;
  /** Debounce for file events, ms (default 100). */
  debounceMs?: number;
  /**
   * How long a replaced snapshot's handlers stay open for calls still in flight, ms (default 5 000);
   * every call into an adapter is bounded by its timeout, so this only has to exceed that.
   */
  drainMs?: number;
}

/**
 * Holds the live config snapshot and replaces it when the config directory changes.
 * A bad change is rejected (logged, counted, shown in status) and the last good snapshot keeps serving.
 */
export class ConfigStore {
  private snapshot: Snapshot | undefined;
  private generation = 0;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** Replaced handlers waiting for calls in flight to finish, by their drain timer. */
  private readonly draining = new Map<NodeJS.Timeout, HandlerRuntime[]>();
  private readonly listeners = new Set<(s: Snapshot) => void>();
  readonly status: ReloadStatus = { generation: 0, lastReload: null, lastSuccess: null };

  constructor(private readonly opts: ConfigStoreOptions) {}

  /** The live snapshot. Throws before the first successful load. */
  get current(): Snapshot {
    if (!this.snapshot) throw new Error('config not loaded');
    return this.snapshot;
  }

  get ready(): boolean {
    return this.snapshot !== undefined;
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

  /** Watches the config directory and reloads on change (debounced). */
  watch(): void {
    if (this.watcher) return;
    this.watcher = watch(this.opts.dir, { ignoreInitial: true, awaitWriteFinish: false, ignored: (p) => /(^|[/\\])\.[^/\\]/.test(p) && p !== this.opts.dir });
    this.watcher.on('all', (_event, path) => this.schedule(`file ${path} changed`));
    this.watcher.on('error', (err) => this.opts.logger.error({ err }, 'config watcher failed'));
  }

  /** Asks for a reload soon; bursts of events collapse into one. */
  schedule(reason: string): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.reload(reason).catch((err) => this.opts.logger.error({ err }, 'config reload crashed'));
    }, this.opts.debounceMs ?? 100);
  }

  /** Loads, checks and, when valid, swaps in a new snapshot. Runs one at a time. */
  async reload(reason: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.doReload(reason).finally(() => {
      this.running = undefined;
    });
    await this.running;
    if (this.again) {
      this.again = false;
      await this.reload('changes during the previous reload');
    }
  }

  private async doReload(reason: string): Promise<void> {
    const t0 = performance.now();
    const { metrics, logger } = this.opts;
    let errors: ErrorDetail[] = [];
    try {
      const loaded = await loadConfigDir(this.opts.dir, this.opts.env ?? process.env);
      const adapters = await this.adaptersFor(loaded.objects, loaded.errors);
      const compiled = compileConfig(loaded.objects, adapters);
      errors = [...loaded.errors, ...compiled.errors];
      if (errors.length === 0 && compiled.plan) {
        const next = await buildSnapshot(compiled.plan, this.generation + 1, this.opts, this.snapshot);
        this.swap(next);
      }
    } catch (err) {
      errors = err instanceof ConfigError ? [...err.details] : [...errors, { field: this.opts.dir, reason: (err as Error).message }];
    }
    const ok = errors.length === 0;
    const durationMs = Math.round((performance.now() - t0) * 10) / 10;
    this.status.lastReload = { at: new Date().toISOString(), ok, reason, durationMs, errors };
    metrics.configReloads.inc({ result: ok ? 'ok' : 'failed' });
    if (ok) {
      this.status.lastSuccess = this.status.lastReload.at;
      logger.info({ generation: this.generation, reason, durationMs, rules: this.snapshot?.plan.rules.length }, 'config loaded');
    } else {
      logger.error({ reason, errors, servingGeneration: this.snapshot?.generation ?? null }, `config rejected: ${errors.length} problem(s); ${this.snapshot ? 'the last good config keeps serving' : 'no config to serve'}`);
    }
  }

  /** Built-ins, plus the plugins the config's Handlers name (their load errors join `errors`). */
  private async adaptersFor(objects: readonly ConfigObject[], errors: ErrorDetail[]): Promise<ReadonlyMap<string, AdapterFactory>> {
    const names = [...new Set(objects.filter((o) => o.kind === 'Handler').map((o) => (o.doc as HandlerDoc).spec.adapter))].filter((n) => !this.opts.adapters.has(n));
    if (names.length === 0 || !this.opts.resolveAdapters) return this.opts.adapters;
    const found = await this.opts.resolveAdapters(names);
    errors.push(...found.errors);
    return new Map([...this.opts.adapters, ...found.adapters]);
  }

  private swap(next: Snapshot): void {
    const old = this.snapshot;
    this.snapshot = next;
    this.generation = next.generation;
    this.status.generation = next.generation;
    this.opts.metrics.configGeneration.set(next.generation);
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

  /** Stops watching and closes every handler (including retired ones still draining). */
  async close(): Promise<void> {
    if (this.debounce) clearTimeout(this.debounce);
    await this.watcher?.close();
    this.watcher = undefined;
    await this.running;
    const all = new Set(this.snapshot?.handlers.values() ?? []);
    for (const [t, retired] of this.draining) {
      clearTimeout(t);
      for (const h of retired) all.add(h);
    }
    this.draining.clear();
    await Promise.all([...all].map((h) => h.close()));
  }
}
