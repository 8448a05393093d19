import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Counter, Histogram } from 'prom-client';
import type { Handler } from '../sdk/adapter';
import type { HandlerPlan } from '../config/compile';
import type { SelfMetrics } from '../metrics/self-metrics';
import { createAdapterEnv } from './adapter-env';
import { withTimeout } from './timeout';
import type { OwnedAdapterEnv } from './adapter-env';
import type { Registry } from 'prom-client';

/** What a handler needs from the process to start. */
export interface HandlerDeps {
  logger: Logger;
  metrics: SelfMetrics;
  redis?: Redis;
  keyPrefix?: string;
  role?: 'serve' | 'worker';
  /** Longest time an adapter's `create` or `close` may take, ms. */
  lifecycleTimeoutMs?: number;
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
  ) {
    this.okCount = metrics.dispatch.labels(plan.ref, 'ok');
    this.errorCount = metrics.dispatch.labels(plan.ref, 'error');
    this.timeoutCount = metrics.dispatch.labels(plan.ref, 'timeout');
    this.duration = metrics.dispatchDuration.labels(plan.ref);
  }

  get ref(): string {
    return this.plan.ref;
  }

  /** The adapter's own metrics registry. */
  get registry(): Registry {
    return this.owned.env.registry;
  }

  /** Creates the handler through its adapter's factory; a throw or a hang becomes a rejection naming the handler. */
  static async start(plan: HandlerPlan, deps: HandlerDeps): Promise<HandlerRuntime> {
    const owned = createAdapterEnv({ handlerName: plan.ref, logger: deps.logger, redis: deps.redis, keyPrefix: deps.keyPrefix, role: deps.role });
    try {
      const handler = await withTimeout(Promise.resolve().then(() => plan.adapter.create(plan.config, owned.env)), deps.lifecycleTimeoutMs ?? 10_000, `handler ${plan.ref}: create`);
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
        if (this.handler.close) await withTimeout(Promise.resolve().then(() => this.handler.close!()), 10_000, `handler ${this.ref}: close`);
      } catch (err) {
        this.logger.warn({ err, handler: this.ref }, 'handler close failed');
      } finally {
        this.owned.dispose();
      }
    })();
    return this.closing;
  }
}
