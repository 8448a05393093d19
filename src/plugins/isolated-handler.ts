/**
 * `isolation: worker`: a handler whose adapter runs in a worker thread of its own, behind a proxy
 * Handler whose calls post messages and await answers. A call that gets no answer in time fails
 * (a check then answers UNAVAILABLE, a report is retried); a worker that then does not even answer a
 * ping is hung and is terminated; a worker that exits (a crash, `process.exit`) is restarted with
 * backoff. Routes are not served for isolated handlers.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Registry, AggregatorRegistry } from 'prom-client';
import { isCluster, specOf } from '../base/redis-connect';
import type { RedisConnection, RedisSpec } from '../base/redis-connect';
import type { AdapterFactory, CheckResult, Handler, QuotaResult } from '../sdk/adapter';
import type { SelfMetrics } from '../metrics/self-metrics';
import { adapterSourceOf } from './adapter-source';
import type { IsolatedWorkerData } from './isolation-protocol';
import { fromWire } from './isolation-protocol';
import { WorkerCalls } from './worker-calls';

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Options of {@link IsolatedHandler.start}. Durations are ms. */
export interface IsolatedHandlerOptions {
  factory: AdapterFactory;
  config: unknown;
  /** Handler reference, `namespace/name`. */
  handlerName: string;
  /** Mixer's logger: the worker's log lines are written through it. */
  logger: Logger;
  keyPrefix?: string;
  role?: 'serve' | 'worker';
  /** Mixer's Redis connection: its host, port, db and credentials are copied; the worker opens its own. */
  redis?: RedisConnection;
  /** Longest a check or quota call may take (default 1 000). */
  callTimeoutMs?: number;
  /** Longest a report call may take (default 30 000). */
  reportTimeoutMs?: number;
  /** Longest the worker's `create` (and `close`) may take (default 10 000). */
  lifecycleTimeoutMs?: number;
  /** After a call timed out, how long the worker has to answer a ping before it is deemed hung (default 2 000). */
  hangTimeoutMs?: number;
  /** First restart delay after a crash, doubled on each crash in a row (default 200), up to `maxBackoffMs` (default 30 000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Mixer's metrics: restarts count in `mixer_adapter_worker_restarts_total{handler}`. Unset: not counted. */
  metrics?: SelfMetrics;
}

/** A worker that stayed up this long resets the backoff. */
const STABLE_MS = 10_000;

/** Mixer's Redis as plain data for the worker (a connection made outside the factory, as in some tests, by its options). */
function redisData(redis: RedisConnection | undefined): RedisSpec | undefined {
  if (!redis) return undefined;
  const spec = specOf(redis);
  if (spec) return spec;
  if (isCluster(redis)) throw new Error('an isolated handler needs a cluster connection made by connectRedis');
  const o = redis.options;
  return { target: { mode: 'server', url: `redis://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}/${o.db ?? 0}` }, username: o.username, password: o.password };
}

/** A registry whose metrics are the worker's, fetched on each read (empty when the worker cannot answer). */
class WorkerRegistry extends Registry {
  constructor(private readonly fetchJson: () => Promise<MetricsJson>) {
    super();
  }

  override async getMetricsAsJSON(): Promise<MetricsJson> {
    try {
      return await this.fetchJson();
    } catch {
      return [];
    }
  }

  override async metrics(): Promise<string> {
    return AggregatorRegistry.aggregate([await this.getMetricsAsJSON()]).metrics();
  }
}

/** A running isolated handler: the proxy `handler`, the worker's `registry`, and its worker's lifecycle. */
export class IsolatedHandler {
  /** The proxy the runtime calls; it has the methods the worker's handler has, and no routes. */
  readonly handler: Handler;
  /** The worker's registry, read for /metrics. */
  readonly registry: Registry;
  private readonly calls: WorkerCalls;

  private constructor(
    private readonly opts: IsolatedHandlerOptions,
    calls: WorkerCalls,
    methods: readonly string[],
  ) {
    this.calls = calls;
    const callMs = opts.callTimeoutMs ?? 1_000;
    const reportMs = opts.reportTimeoutMs ?? 30_000;
    const h: Handler = { close: () => this.close() };
    if (methods.includes('check')) h.check = (instance) => calls.call('check', [instance], callMs) as Promise<CheckResult>;
    if (methods.includes('quota')) h.quota = (instance, args) => calls.call('quota', [instance, args], callMs) as Promise<QuotaResult>;
    if (methods.includes('report')) h.report = async (instances, ctx) => void (await calls.call('report', [instances, ctx], reportMs));
    this.handler = Object.freeze(h);
    this.registry = new WorkerRegistry(() => calls.call('metrics', [], callMs) as Promise<MetricsJson>);
  }

  /** How many times the worker was restarted after a crash or a hang. */
  get restarts(): number {
    return this.calls.restarts;
  }

  /** Thread id of the live worker (undefined between a crash and its restart). */
  get threadId(): number | undefined {
    return this.calls.threadId;
  }

  /**
   * Starts the worker and creates the handler in it. Rejects (and leaves no thread behind) when the
   * factory cannot be loaded by source (see `adapterSourceOf`), or its `create` throws or hangs.
   */
  static async start(opts: IsolatedHandlerOptions): Promise<IsolatedHandler> {
    const source = adapterSourceOf(opts.factory);
    if (!source)
      throw new Error(`isolation: worker needs an adapter Mixer can load by name (a built-in or a plugin); "${opts.factory.name}" was given in process`);
    const data: IsolatedWorkerData = {
      source,
      config: opts.config,
      handlerName: opts.handlerName,
      keyPrefix: opts.keyPrefix,
      role: opts.role ?? 'serve',
      logLevel: opts.logger.level,
      redis: redisData(opts.redis),
    };
    const log = opts.logger;
    const restartCount = opts.metrics?.workerRestarts.labels(opts.handlerName);
    const calls = new WorkerCalls({
      name: opts.handlerName,
      spawn: () => new Worker(path.join(__dirname, 'isolated-worker.js'), { workerData: data, stdout: false, stderr: false }),
      logger: log,
      onLog: (line) => relayLog(log, line),
      lifecycleTimeoutMs: opts.lifecycleTimeoutMs ?? 10_000,
      hangTimeoutMs: opts.hangTimeoutMs ?? 2_000,
      backoffMs: opts.backoffMs ?? 200,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      stableMs: STABLE_MS,
      errorOf: (e) => fromWire(e, `handler ${opts.handlerName} (isolated): `),
      onRestart: () => restartCount?.inc(),
    });
    const ready = await calls.start();
    restartCount?.inc(0); // the series shows from the start, at 0
    if (ready.routes) log.warn({ handler: opts.handlerName }, 'isolated handler has HTTP routes: routes are not served for isolated handlers');
    return new IsolatedHandler(opts, calls, ready.methods);
  }

  /** Asks the handler to close, then ends the worker. Safe to call twice; never throws. */
  close(): Promise<void> {
    return this.calls.close(Math.min(this.opts.lifecycleTimeoutMs ?? 10_000, 5_000));
  }
}

/** Writes one JSON log line of the worker through Mixer's logger, at its level. */
function relayLog(logger: Logger, line: string): void {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.info({ line: line.trimEnd() }, 'isolated handler log');
    return;
  }
  const { level, msg, time: _time, ...rest } = o;
  const label = logger.levels.labels[level as number] ?? 'info';
  const fn = (logger as unknown as Record<string, (obj: object, msg?: string) => void>)[label];
  if (typeof fn === 'function') fn.call(logger, { ...rest, isolated: true }, typeof msg === 'string' ? msg : undefined);
}
