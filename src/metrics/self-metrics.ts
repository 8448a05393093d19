import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { withTimeout } from '../base/timeout';
import { BatchedHistogram, BufferedCounter } from './buffered';

/**
 * Mixer's own `mixer_*` metrics, one registry per process (never the global one).
 * Adapters' registries and the report state collectors are merged in at scrape time.
 */
export class SelfMetrics {
  readonly registry = new Registry();
  /** Observed on every check: observations are batched (see BatchedHistogram). */
  readonly checkDuration = new BatchedHistogram({
    name: 'mixer_check_duration_seconds',
    help: 'Time to answer a check, from decoded request to answer, in seconds.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /**
   * Check answers counted since the last read of `checkResults`, by code, in first-seen order: the
   * check path adds to a number here and the counter takes the sums whenever it is read (scrape,
   * `get()`), so its values are the same as if each answer were counted at once.
   */
  private readonly pendingCheckResults = new Map<number, number>();
  readonly checkResults = new Counter({
    name: 'mixer_check_results_total',
    help: 'Check answers by google.rpc status code.',
    labelNames: ['code'],
    registers: [this.registry],
    collect: () => this.flushCheckResults(),
  });
  readonly requestErrors = new Counter({
    name: 'mixer_request_errors_total',
    help: 'API requests refused with an error, by route and error code.',
    labelNames: ['route', 'code'],
    registers: [this.registry],
  });
  readonly reports = new Counter({
    name: 'mixer_reports_total',
    help: 'Report bags by result: accepted (durably queued) or rejected.',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'mixer_config_reloads_total',
    help: 'Config loads by result (ok, failed).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly configGeneration = new Gauge({
    name: 'mixer_config_generation',
    help: 'Generation of the config now serving; it changes on every successful reload.',
    registers: [this.registry],
  });
  /** Counted on every adapter call (check and report): its `labels()` children are buffered. */
  readonly dispatch = new BufferedCounter({
    name: 'mixer_adapter_dispatch_total',
    help: 'Calls into adapters by handler and result (ok, error, timeout).',
    labelNames: ['handler', 'result'],
    registers: [this.registry],
  });
  /** Observed on every adapter call (check and report): observations are batched (see BatchedHistogram). */
  readonly dispatchDuration = new BatchedHistogram({
    name: 'mixer_adapter_dispatch_duration_seconds',
    help: 'Duration of calls into adapters, by handler, in seconds.',
    labelNames: ['handler'],
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  /** Counted each time an isolated handler (`isolation: worker`) starts a new worker after a crash or a hang. */
  readonly workerRestarts = new Counter({
    name: 'mixer_adapter_worker_restarts_total',
    help: "Restarts of isolated handlers' worker threads after a crash or a hang, by handler.",
    labelNames: ['handler'],
    registers: [this.registry],
  });
  /** gRPC calls (ext_authz, ALS, mixer v1) by service, method and gRPC code name (OK, INVALID_ARGUMENT, ...). */
  readonly grpcRequests = new Counter({
    name: 'mixer_grpc_requests_total',
    help: 'gRPC calls answered, by service, method and gRPC status code.',
    labelNames: ['service', 'method', 'code'],
    registers: [this.registry],
  });
  /** Observed on every gRPC call, from its start to its answer (a stream: its whole life); batched. */
  readonly grpcDuration = new BatchedHistogram({
    name: 'mixer_grpc_request_duration_seconds',
    help: 'Time from the start of a gRPC call to its answer, by service and method, in seconds.',
    labelNames: ['service', 'method'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10, 60, 600],
    registers: [this.registry],
  });
  readonly redisUp = new Gauge({
    name: 'mixer_redis_up',
    help: '1 when the Redis connection is ready, 0 when not (or no Redis is configured).',
    registers: [this.registry],
  });
  readonly redisUnreplicated = new Counter({
    name: 'mixer_redis_unreplicated_writes_total',
    help: 'Writes acknowledged while their Redis primary had fewer replicas connected than expected (after a failover, before a new replica caught up): a second failover then could lose them. By what was written: report (a queued batch) or adapter (counts and their once-per-job markers).',
    labelNames: ['what'],
    registers: [this.registry],
  });

  readonly queueReportsPerBatch = new Histogram({
    name: 'mixer_queue_reports_per_batch',
    help: 'Reports (without an Idempotency-Key) queued together as one batch, observed per batch: under load, reports that arrive while a batch is being written to Redis go together in the next one.',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  readonly queueRetries = new Counter({
    name: 'mixer_queue_retries_total',
    help: 'Report batches a handler failed and that will be retried after a backoff, by handler.',
    labelNames: ['handler'],
    registers: [this.registry],
  });
  readonly queueDiscarded = new Counter({
    name: 'mixer_queue_discarded_total',
    help: 'Queued report batches removed undelivered, by handler and reason (handler_removed: its handler left the config for longer than the grace period; batch_expired: its bags outlived their TTL in Redis).',
    labelNames: ['handler', 'reason'],
    registers: [this.registry],
  });

  readonly deadLettersDropped = new Counter({
    name: 'mixer_dead_letters_dropped_total',
    help: 'Dead letters dropped by this process, by handler and reason (count, bytes: over the per-handler cap, oldest first; expired: past their TTL).',
    labelNames: ['handler', 'reason'],
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'mixer_queue_depth',
    help: 'Report deliveries by state (waiting, active, delayed, failed = dead letters), over every handler queue.',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly deadLetters = new Gauge({
    name: 'mixer_dead_letters',
    help: 'Report batches in the dead-letter set, by handler.',
    labelNames: ['handler'],
    registers: [this.registry],
  });

  /** Makes `mixer_queue_depth` and `mixer_dead_letters` read the queue at every scrape. */
  observeQueue(queue: { depth(): Promise<Record<string, number>>; deadLetterCounts(): Promise<Record<string, number>> }): void {
    const depth = this.queueDepth;
    const dead = this.deadLetters;
    (depth as unknown as { collect: () => Promise<void> }).collect = async () => {
      try {
        const d = await withTimeout(queue.depth(), 1000, 'queue depth');
        for (const [state, n] of Object.entries(d)) depth.set({ state }, n);
      } catch {
        /* Redis away: keep the last figures; mixer_redis_up says why */
      }
    };
    (dead as unknown as { collect: () => Promise<void> }).collect = async () => {
      try {
        const counts = await withTimeout(queue.deadLetterCounts(), 1000, 'dead letter counts');
        dead.reset();
        for (const [handler, n] of Object.entries(counts)) dead.set({ handler }, n);
      } catch {
        /* as above */
      }
    };
  }

  /** Counts one check answer under `mixer_check_results_total{code}` (cheap enough for every request). */
  countCheckResult(code: number): void {
    const pending = this.pendingCheckResults;
    const n = pending.get(code);
    if (n !== undefined) pending.set(code, n + 1);
    else if (typeof code === 'number' && this.pendingCheckResults.size < 64) pending.set(code, 1);
    else this.checkResults.inc({ code }); // an odd code: counted at once, as before
  }

  private flushCheckResults(): void {
    for (const [code, n] of this.pendingCheckResults) {
      if (n === 0) continue;
      this.checkResults.inc({ code }, n);
      this.pendingCheckResults.set(code, 0);
    }
  }

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mixer_' });
  }
}
