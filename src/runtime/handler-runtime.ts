import type { Logger } from 'pino';
import type { RedisConnection } from '../base/redis-connect';
import type { ReplicaWaiter } from '../base/redis-replicas';
import type { Counter, Histogram } from 'prom-client';
import type { Handler } from '../sdk/adapter';
import type { HandlerPlan } from '../config/compile';
import type { SelfMetrics } from '../metrics/self-metrics';
import { createAdapterEnv } from '../sdk/env';
import { withTimeout } from '../base/timeout';
import type { OwnedAdapterEnv } from '../sdk/env';
import { IsolatedHandler } from '../plugins/isolated-handler';
import type { Registry } from 'prom-client';

/** What a handler needs from the process to start. */
export interface HandlerDeps {
  logger: Logger;
  metrics: SelfMetrics;
  redis?: RedisConnection;
  /** Waits for `redis`'s connected replicas (adapters' `env.awaitReplicas`); closed with the config store. */
  replicas?: ReplicaWaiter;
  keyPrefix?: string;
  role?: 'serve' | 'worker';
  /** Longest time an adapter's `create` or `close` may take, ms. */
  lifecycleTimeoutMs?: number;
  /** Isolated handlers (`isolation: worker`): longest a check or quota call may take, ms (default 1 000). */
  callTimeoutMs?: number;
  /** Isolated handlers: longest a report call may take, ms (default 30 000). */
  reportTimeoutMs?: number;
}

/** A running handler: the adapter's Handler, its env, and per-handler metric children. */
export class HandlerRuntime {
  private closing: Promise<void> | undefined;
  readonly okCount: Counter.Internal;
  readonly errorCount: Counter.Internal;
  readonly timeoutCount: Counter.Internal;
  readonly duration: Histogram.Internal<string>;

  private constructor(
    readonly plan: HandlerPlan,
    readonly handler: Handler,
    private readonly owned: OwnedAdapterEnv,
    private readonly logger: Logger,
    metrics: SelfMetrics,
    /** The adapter's metrics: its env's registry, or for an isolated handler the worker's. */
    readonly registry: Registry = owned.env.registry,
  ) {
    this.okCount = metrics.dispatch.labels(plan.ref, 'ok');
    this.errorCount = metrics.dispatch.labels(plan.ref, 'error');
    this.timeoutCount = metrics.dispatch.labels(plan.ref, 'timeout');
    this.duration = metrics.dispatchDuration.labels(plan.ref);
  }

  get ref(): string {
    return this.plan.ref;
  }

  /**
   * Creates the handler through its adapter's factory; a throw or a hang becomes a rejection naming the handler.
   * With `isolation: worker` the adapter is created in a worker thread and the handler is a proxy to it.
   */
  static async start(plan: HandlerPlan, deps: HandlerDeps): Promise<HandlerRuntime> {
    const owned = createAdapterEnv({
      handlerName: plan.ref,
      logger: deps.logger,
      redis: deps.redis,
      replicas: deps.replicas,
      keyPrefix: deps.keyPrefix,
      role: deps.role,
    });
    try {
      if (plan.isolation === 'worker') {
        const iso = await IsolatedHandler.start({
          factory: plan.adapter,
          config: plan.config,
          handlerName: plan.ref,
          logger: deps.logger,
          keyPrefix: deps.keyPrefix,
          role: deps.role,
          redis: deps.redis,
          callTimeoutMs: deps.callTimeoutMs,
          reportTimeoutMs: deps.reportTimeoutMs,
          lifecycleTimeoutMs: deps.lifecycleTimeoutMs,
          metrics: deps.metrics,
        });
        return new HandlerRuntime(plan, iso.handler, owned, deps.logger, deps.metrics, iso.registry);
      }
      const handler = await withTimeout(
        Promise.resolve().then(() => plan.adapter.create(plan.config, owned.env)),
        deps.lifecycleTimeoutMs ?? 10_000,
        `handler ${plan.ref}: create`,
      );
      return new HandlerRuntime(plan, handler, owned, deps.logger, deps.metrics);
    } catch (err) {
      owned.dispose();
      throw new Error(`handler ${plan.ref} (adapter ${plan.adapter.name}) failed to start: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes the handler and cancels its timers. Safe to call twice; never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (this.handler.close)
          await withTimeout(
            Promise.resolve().then(() => this.handler.close!()),
            10_000,
            `handler ${this.ref}: close`,
          );
      } catch (err) {
        this.logger.warn({ err, handler: this.ref }, 'handler close failed');
      } finally {
        this.owned.dispose();
      }
    })();
    return this.closing;
  }
}
