import { Counter } from 'prom-client';
import { Code } from '../../src/sdk';
import type { AdapterEnv, Handler, InstanceValue, QuotaArgs, QuotaResult } from '../../src/sdk';
import type { MemQuotaSettings, QuotaLimit, QuotaSettings } from './config';
import { boundedKey, byInstanceName, canonicalDimensions, dimensionsOf, firstMatch } from './dimensions';
import { QuotaWindows } from './windows';

/** Tuning and test hooks of {@link MemQuotaHandler}. */
export interface MemQuotaOptions {
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** Most distinct dimension sets kept per quota; beyond it one window of that quota is evicted (see QuotaWindows; default 100 000). */
  maxWindows?: number;
  /** Most dedup answers kept; beyond it the oldest is dropped (default 100 000). */
  maxDedup?: number;
}

/** How often idle windows and old dedup answers are dropped, at least, ms. */
const MIN_SWEEP_MS = 1000;
/** At most one overflow warning per this many ms. */
const WARN_EVERY_MS = 60_000;

/**
 * In-memory fixed-window quotas, per process. A window starts with the first allocation for a
 * (quota, dimension set) and lasts `validDuration`; a sweep on an env timer drops ended windows
 * and expired dedup answers. `close()` stops the sweep and drops all state; safe twice.
 */
export class MemQuotaHandler implements Handler {
  private readonly quotas: ReadonlyMap<string, QuotaSettings>;
  /** Quota name → its windows by dimension set. */
  private readonly windows = new Map<string, QuotaWindows>();
  private readonly evictions: Counter;
  private readonly dedup = new Map<string, { result: QuotaResult; expires: number }>();
  private readonly unknownLogged = new Set<string>();
  private readonly now: () => number;
  private readonly maxWindows: number;
  private readonly maxDedup: number;
  private readonly sweeper: NodeJS.Timeout;
  private lastOverflowWarn = -Infinity;
  private closed = false;

  constructor(
    private readonly settings: MemQuotaSettings,
    private readonly env: AdapterEnv,
    opts: MemQuotaOptions = {},
  ) {
    this.quotas = new Map(settings.quotas.map((q) => [q.name, q]));
    this.now = opts.now ?? Date.now;
    this.maxWindows = opts.maxWindows ?? 100_000;
    this.maxDedup = opts.maxDedup ?? 100_000;
    this.evictions = new Counter({
      name: 'mixer_memquota_evictions_total',
      help: 'Live windows (by quota) or dedup answers dropped because their table was full; an evicted window starts afresh.',
      labelNames: ['table'],
      registers: [env.registry],
    });
    this.sweeper = env.timers.setInterval(() => this.sweep(), Math.max(MIN_SWEEP_MS, settings.minDeduplicationDuration));
  }

  /**
   * Allocates `args.amount` from the window of the instance's quota and dimensions.
   * Granted in full, or (bestEffort) what remains, or 0 with RESOURCE_EXHAUSTED. A quota name with
   * no configured limit grants 0 with INVALID_ARGUMENT. A non-empty `dedupId` seen for the same
   * quota and dimensions within `minDeduplicationDuration` returns the earlier answer, uncharged.
   */
  quota(instance: InstanceValue, args: QuotaArgs): QuotaResult {
    const q = byInstanceName(this.quotas, instance.name);
    if (!q) return this.unknown(instance.name);
    const dims = dimensionsOf(instance.fields);
    const limit: QuotaLimit = firstMatch(q.overrides, dims)?.limit ?? q.limit;
    const key = canonicalDimensions(dims);
    const now = this.now();
    const dedupKey = args.dedupId ? `${q.name}\u0000${key}\u0000${boundedKey(args.dedupId)}` : undefined;
    if (dedupKey !== undefined) {
      const hit = this.dedup.get(dedupKey);
      if (hit && hit.expires > now) return copy(hit.result);
    }

    let table = this.windows.get(q.name);
    if (!table) this.windows.set(q.name, (table = new QuotaWindows(this.maxWindows)));
    let w = table.take(key, now);
    if (!w) {
      w = { start: now, end: limit.validDuration > 0 ? now + limit.validDuration : Infinity, used: 0 };
      if (table.add(key, w)) this.overflow(q.name, now);
    }
    const left = Math.max(0, limit.maxAmount - w.used);
    const granted = args.amount <= left ? Math.max(0, args.amount) : args.bestEffort ? left : 0;
    w.used += granted;
    if (w.used >= limit.maxAmount) table.exhausted(key);
    const result: QuotaResult = { grantedAmount: granted, validDuration: limit.validDuration };
    if (granted === 0 && args.amount > 0) result.status = { code: Code.RESOURCE_EXHAUSTED, message: `quota ${q.name} is exhausted` };

    if (dedupKey !== undefined && this.settings.minDeduplicationDuration > 0) {
      this.dedup.delete(dedupKey);
      this.makeRoom(this.dedup, this.maxDedup, now);
      this.dedup.set(dedupKey, { result: copy(result), expires: now + this.settings.minDeduplicationDuration });
    }
    return result;
  }

  /** Drops ended windows and expired dedup answers. Called by the env timer. */
  sweep(): void {
    const now = this.now();
    for (const table of this.windows.values()) table.sweep(now);
    for (const [k, d] of this.dedup) {
      if (d.expires > now) break; // insertion order is expiry order
      this.dedup.delete(k);
    }
  }

  /** Number of live windows, of all quotas (for tests and diagnostics). */
  get windowCount(): number {
    let n = 0;
    for (const table of this.windows.values()) n += table.size;
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.env.timers.clear(this.sweeper);
    for (const table of this.windows.values()) table.clear();
    this.windows.clear();
    this.dedup.clear();
  }

  private unknown(name: string): QuotaResult {
    if (!this.unknownLogged.has(name) && this.unknownLogged.size < 1000) {
      this.unknownLogged.add(name);
      this.env.logger.warn({ quota: name }, 'memquota: no limit configured for this quota instance; granting 0');
    }
    return { grantedAmount: 0, validDuration: 0, status: { code: Code.INVALID_ARGUMENT, message: `memquota has no limit for quota ${name}` } };
  }

  /** Evicts the oldest dedup answer when the table is full. */
  private makeRoom(map: Map<string, unknown>, max: number, now: number): void {
    if (map.size < max) return;
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
    this.overflow('dedup', now);
  }

  /** Counts one eviction from `table` (a quota name, or `dedup`); warns at most once a minute. */
  private overflow(table: string, now: number): void {
    this.evictions.inc({ table });
    if (now - this.lastOverflowWarn >= WARN_EVERY_MS) {
      this.lastOverflowWarn = now;
      this.env.logger.warn(
        { table, maxWindows: this.maxWindows, maxDedup: this.maxDedup },
        'memquota: a table is full; evicting (see mixer_memquota_evictions_total)',
      );
    }
  }
}

function copy(r: QuotaResult): QuotaResult {
  return r.status ? { ...r, status: { ...r.status } } : { ...r };
}
