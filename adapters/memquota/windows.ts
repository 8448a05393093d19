/** One fixed window of one quota and dimension set. */
export interface Window {
  start: number;
  /** Infinity for quotas that never refill. */
  end: number;
  used: number;
}

/**
 * The windows of one quota, at most `max` of them. When full, a new window evicts, in this order:
 * the least recently used window that has been allocated from only once and is not exhausted (a
 * caller seen once), and only when there is none the least recently used of the others (callers that
 * came back, or used their whole amount). So a client that varies a dimension to create windows
 * evicts its own one-off windows first, never the window of an active caller, and never another
 * quota's window (each quota has its own table).
 */
export class QuotaWindows {
  /** Windows allocated from once and not exhausted, least recently used first. */
  private readonly once = new Map<string, Window>();
  /** Windows of callers that came back or exhausted them, least recently used first. */
  private readonly active = new Map<string, Window>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.once.size + this.active.size;
  }

  /** The live window of `key` (an ended one is dropped), made the most recently used; undefined if none. */
  take(key: string, now: number): Window | undefined {
    const w = this.active.get(key) ?? this.once.get(key);
    if (!w) return undefined;
    this.once.delete(key);
    this.active.delete(key);
    if (now >= w.end) return undefined;
    // Seen again: an active caller from now on.
    this.active.set(key, w);
    return w;
  }

  /**
   * Adds the new window of `key` (which {@link take} did not find); when the table is full, evicts
   * one window first as the class says. Returns whether a live window was evicted.
   */
  add(key: string, w: Window): boolean {
    let evicted = false;
    if (this.size >= this.max) {
      const victim = this.once.keys().next();
      if (!victim.done) this.once.delete(victim.value);
      else {
        const other = this.active.keys().next();
        if (!other.done) this.active.delete(other.value);
      }
      evicted = true;
    }
    this.once.set(key, w);
    return evicted;
  }

  /** Marks `key`'s window active (its caller used the whole amount). */
  exhausted(key: string): void {
    const w = this.once.get(key);
    if (!w) return;
    this.once.delete(key);
    this.active.set(key, w);
  }

  /** Drops ended windows. */
  sweep(now: number): void {
    for (const map of [this.once, this.active]) for (const [k, w] of map) if (now >= w.end) map.delete(k);
  }

  clear(): void {
    this.once.clear();
    this.active.clear();
  }
}
