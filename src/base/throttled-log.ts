import type { Logger } from 'pino';

/**
 * Logs a recurring problem at most once per interval per key, with how many times it happened
 * since the last line: an adapter failing 10,000 times a second yields one line a minute, not 10,000.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    if (this.last.size > 10_000) this.last.clear();
    this.logger.warn({ ...obj, suppressedSinceLast: entry?.suppressed ?? 0 }, msg);
  }
}
