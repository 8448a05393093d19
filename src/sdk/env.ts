import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { AdapterEnv, AdapterTimers, RedisConnection } from './adapter';
import { silentLogger } from '../base/log';
import { ThrottledLog } from '../base/throttled-log';
import { JobMarkers } from './job-markers';

/** Timers that can all be cancelled at once when their owner closes. */
export class OwnedTimers implements AdapterTimers {
  private readonly live = new Set<NodeJS.Timeout>();
  private closed = false;

  setTimeout(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.live.delete(t);
      fn();
    }, ms);
    t.unref();
    if (this.closed) clearTimeout(t);
    else this.live.add(t);
    return t;
  }

  setInterval(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setInterval(fn, ms);
    t.unref();
    if (this.closed) clearInterval(t);
    else this.live.add(t);
    return t;
  }

  clear(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.live.delete(timer);
  }

  /** Cancels every timer; later timers are cancelled at once. Safe to call twice. */
  closeAll(): void {
    this.closed = true;
    for (const t of this.live) clearTimeout(t);
    this.live.clear();
  }
}

export interface AdapterEnvOptions {
  handlerName: string;
  logger?: Logger;
  redis?: RedisConnection;
  /** Prefix for Redis keys; default `mixer:`. */
  keyPrefix?: string;
  /** Default `serve`. */
  role?: 'serve' | 'worker';
  /** Waits for `redis`'s replicas (`env.awaitReplicas`); unset: nothing to wait for. */
  replicas?: { settle(...keys: string[]): Promise<void> };
}

/** An env plus the means to tear it down (the runtime calls `dispose` after the handler's `close`). */
export interface OwnedAdapterEnv {
  env: AdapterEnv;
  dispose(): void;
}

/** Builds the env handed to an adapter's `create`. */
export function createAdapterEnv(opts: AdapterEnvOptions): OwnedAdapterEnv {
  const timers = new OwnedTimers();
  const logger = (opts.logger ?? silentLogger()).child({ handler: opts.handlerName });
  const prefix = opts.keyPrefix ?? 'mixer:';
  const env: AdapterEnv = {
    handlerName: opts.handlerName,
    logger,
    registry: new Registry(),
    timers,
    redis: opts.redis,
    keyPrefix: `${prefix}h:${opts.handlerName}:`,
    role: opts.role ?? 'serve',
    throttledLog: new ThrottledLog(logger),
    jobMarkers: (ttlMs: number) => new JobMarkers(ttlMs),
    awaitReplicas: (...keys: string[]) => (opts.replicas ? opts.replicas.settle(...keys) : Promise.resolve()),
  };
  return { env, dispose: () => timers.closeAll() };
}
