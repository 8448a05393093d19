import { Counter } from 'prom-client';
import type { AdapterEnv, Handler, InstanceValue, ReportContext } from '../../src/sdk';
import { aggregate } from './aggregate';
import { registerStoredMetrics } from './render';
import { DROPPED_METRIC, TRUNCATED_METRIC } from './settings';
import type { MetricSpec, PrometheusSettings } from './settings';
import type { MetricStore } from './store';

/**
 * The `prometheus` handler. `report()` folds a batch of `metric` instances into per-series deltas
 * and applies them to the store in one atomic step with the job's marker, so a redelivered job
 * (same `jobId`) counts once. Bad instances (no value, a non-numeric value, a negative counter
 * increment) are skipped, counted in `mixer_prometheus_dropped_total{metric,reason}` and logged
 * at most once a minute per metric and reason; they never fail the batch. `report()` rejects
 * (retryable) only when the store cannot be reached, and then nothing was applied.
 *
 * On role `serve` the configured metrics and `mixer_prometheus_series_overflow_total` are
 * registered in `env.registry` and read from the store on every scrape; on role `worker` they
 * are not rendered. Idle series are swept every `expiryCheckIntervalMs` on `env.timers`.
 * `close()` stops the sweep and unregisters the metrics; it is safe twice and never touches the
 * Redis connection (the runtime owns it).
 */
export class PrometheusHandler implements Handler {
  private readonly byInstance = new Map<string, MetricSpec[]>();
  private readonly dropped: Counter<'metric' | 'reason'>;
  private readonly truncated: Counter<'metric'>;
  private readonly log: AdapterEnv['throttledLog'];
  private readonly unregister: (() => void) | undefined;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private closed = false;

  constructor(
    readonly settings: PrometheusSettings,
    private readonly env: AdapterEnv,
    /** Where the series live (Redis or memory). */
    readonly store: MetricStore,
  ) {
    for (const m of settings.metrics) {
      const list = this.byInstance.get(m.instance);
      if (list) list.push(m);
      else this.byInstance.set(m.instance, [m]);
    }
    this.log = env.throttledLog;
    this.dropped = new Counter({
      name: DROPPED_METRIC,
      help: 'Metric instances skipped by this process because their value was missing or unusable.',
      labelNames: ['metric', 'reason'],
      registers: [env.registry],
    });
    this.truncated = new Counter({
      name: TRUNCATED_METRIC,
      help: 'Metric instances counted by this process with a label value cut to maxLabelValueLength.',
      labelNames: ['metric'],
      registers: [env.registry],
    });
    if (env.role === 'serve') {
      this.unregister = registerStoredMetrics(
        env.registry,
        settings.metrics,
        store,
        (err, metric) => this.log.warn(`render:${metric}`, { err, metric }, 'cannot read metric state; rendering it without samples'),
        (metric, skipped) =>
          this.log.warn(
            `budget:${metric}`,
            { metric, skipped },
            "stored series exceed the metric's share of maxScrapeBytes; the rest are left out of /metrics",
          ),
      );
    }
    if (settings.expiryMs > 0 && settings.metrics.length > 0) {
      this.sweepTimer = env.timers.setInterval(() => void this.sweep(), settings.expiryCheckIntervalMs);
    }
  }

  async report(instances: readonly InstanceValue[], ctx: ReportContext): Promise<void> {
    if (this.closed) throw new Error(`prometheus handler ${this.env.handlerName} is closed`);
    const { batch, drops, unrouted, truncated } = aggregate(instances, this.byInstance, this.settings.maxLabelValueBytes);
    const applied = await this.store.apply(ctx.jobId, batch);
    if (!applied) {
      this.env.logger.debug({ jobId: ctx.jobId, attempt: ctx.attempt }, 'job already applied; skipped');
      return;
    }
    for (const d of drops) {
      this.dropped.inc({ metric: d.metric, reason: d.reason });
      this.log.warn(`drop:${d.metric}:${d.reason}`, { metric: d.metric, reason: d.reason, instance: d.instance }, 'metric instance skipped');
    }
    for (const [metric, n] of truncated) {
      this.truncated.inc({ metric }, n);
      this.log.warn(
        `truncated:${metric}`,
        { metric, maxLabelValueLength: this.settings.maxLabelValueBytes },
        'label value longer than maxLabelValueLength; cut',
      );
    }
    for (const name of unrouted) {
      this.log.warn(`unrouted:${name}`, { instance: name }, 'no metric of this handler takes this instance (check instanceName)');
    }
  }

  /**
   * Removes series not updated for `metricsExpiryDuration` now (the timer calls this); resolves to
   * how many were removed. Never rejects: a failure is logged and the next interval tries again.
   * A call while a sweep runs joins it.
   */
  sweep(): Promise<number> {
    if (this.closed || this.settings.expiryMs <= 0) return Promise.resolve(0);
    this.sweeping ??= this.store
      .sweep(this.settings.metrics, this.settings.expiryMs)
      .catch((err: unknown) => {
        this.log.warn('sweep', { err }, 'cannot remove expired series');
        return 0;
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) this.env.timers.clear(this.sweepTimer);
    this.unregister?.();
    this.env.registry.removeSingleMetric(DROPPED_METRIC);
    this.env.registry.removeSingleMetric(TRUNCATED_METRIC);
  }
}
