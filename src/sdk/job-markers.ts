/** Default most job ids a {@link JobMarkers} remembers; past it the oldest are forgotten first. */
export const MAX_JOB_MARKERS = 100_000;

/**
 * "Apply once per job" in one process's memory. A report job can be delivered more than once
 * (a retry after a lost acknowledgement, a worker killed mid-job): a handler that keeps counts
 * claims the job's id before applying it, and skips the job when the claim fails.
 *
 * A marker lives `ttlMs` after its claim; at most `max` are kept (oldest forgotten first), so the
 * memory is bounded whatever the traffic. Stores that keep their state in Redis set their marker in
 * the same atomic step as their writes instead (see the prometheus and graph adapters).
 */
export class JobMarkers {
  /** job id → expiry (epoch ms); insertion order is claim order. */
  private readonly markers = new Map<string, number>();

  constructor(
    readonly ttlMs: number,
    private readonly max = MAX_JOB_MARKERS,
  ) {}

  /** True the first time `jobId` is claimed within `ttlMs`; false for a redelivery. */
  claim(jobId: string, now = Date.now()): boolean {
    this.sweep(now);
    const expiry = this.markers.get(jobId);
    if (expiry !== undefined && expiry > now) return false;
    this.markers.delete(jobId);
    this.markers.set(jobId, now + this.ttlMs);
    while (this.markers.size > this.max) this.markers.delete(this.markers.keys().next().value as string);
    return true;
  }

  /** Forgets expired markers (claims do this too). */
  sweep(now = Date.now()): void {
    for (const [id, expiry] of this.markers) {
      if (expiry > now) break;
      this.markers.delete(id);
    }
  }

  /** Markers held (for tests of the bound). */
  get size(): number {
    return this.markers.size;
  }
}
