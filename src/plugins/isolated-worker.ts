/**
 * The worker thread of an isolated handler (`isolation: worker`): loads the adapter factory from its
 * source, creates the handler with an env of its own (a logger forwarded to Mixer's log, a registry
 * read by Mixer's /metrics, timers, its own Redis connection when Mixer has one) and answers the
 * proxy's calls. Started by `isolated-handler.ts`; not meant to be imported.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { connectRedis } from '../base/redis-connect';
import { ReplicaWaiter } from '../base/redis-replicas';
import type { RedisConnection } from '../base/redis-connect';
import type { AdapterFactory, Handler } from '../sdk/adapter';
import { deepFreeze } from '../sdk/params';
import { createAdapterEnv } from '../sdk/env';
import type { OwnedAdapterEnv } from '../sdk/env';
import { exportedFactory, factoryProblems, isFactoryNamed } from './validate-factory';
import { toWire } from './isolation-protocol';
import type { FromWorker, IsolatedWorkerData, ToWorker } from './isolation-protocol';

const data = workerData as IsolatedWorkerData;

function post(m: FromWorker): void {
  parentPort!.postMessage(m);
}

async function loadFactory(): Promise<AdapterFactory> {
  const src = data.source;
  if (src.kind === 'builtin') {
    const { BUILTIN_ADAPTERS } = await import('../../adapters/index');
    const f = BUILTIN_ADAPTERS.find((a) => a.name === src.name);
    if (!f) throw new Error(`no built-in adapter "${src.name}"`);
    return f;
  }
  // A plugin is a CommonJS file named at run time (MIXER_PLUGINS_DIR): only require() can load it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module: unknown = require(src.file);
  const exported = exportedFactory(module);
  const candidate = exported?.exportName === src.exportName ? exported.candidate : (module as Record<string, unknown>)?.[src.exportName];
  if (!isFactoryNamed(candidate, src.name)) throw new Error(`plugin ${src.file}: ${factoryProblems(candidate, src.name).join('; ')}`);
  return candidate;
}

function openRedis(): RedisConnection | undefined {
  if (!data.redis) return undefined;
  const redis = connectRedis(data.redis, 'lazy');
  redis.on('error', () => {
    /* ioredis retries by itself; calls that need Redis fail meanwhile */
  });
  return redis;
}

async function main(): Promise<void> {
  const logger = pino({ level: data.logLevel, base: undefined }, { write: (line: string) => post({ t: 'log', line }) });
  let owned: OwnedAdapterEnv | undefined;
  let redis: RedisConnection | undefined;
  let replicas: ReplicaWaiter | undefined;
  let handler: Handler;
  try {
    const factory = await loadFactory();
    redis = openRedis();
    // Its own connection, so its own WAITs: a WAIT covers the writes sent on the same connection.
    replicas = redis ? new ReplicaWaiter(redis) : undefined;
    owned = createAdapterEnv({ handlerName: data.handlerName, logger, redis, replicas, keyPrefix: data.keyPrefix, role: data.role });
    handler = await factory.create(deepFreeze(data.config), owned.env);
  } catch (err) {
    owned?.dispose();
    replicas?.close();
    redis?.disconnect();
    post({ t: 'fatal', error: toWire(err) });
    return;
  }
  const env = owned.env;
  let closing: Promise<void> | undefined;
  const run = async (m: Extract<ToWorker, { t: 'call' }>): Promise<unknown> => {
    switch (m.op) {
      case 'check':
        return handler.check!(m.args[0] as never);
      case 'quota':
        return handler.quota!(m.args[0] as never, m.args[1] as never);
      case 'report':
        await handler.report!(m.args[0] as never, m.args[1] as never);
        return undefined;
      case 'metrics':
        return env.registry.getMetricsAsJSON();
      case 'close':
        closing ??= (async () => {
          try {
            await handler.close?.();
          } finally {
            owned.dispose();
            replicas?.close();
            redis?.disconnect();
          }
        })();
        return closing;
    }
  };
  parentPort!.on('message', (m: ToWorker) => {
    if (m.t === 'ping') return post({ t: 'pong', id: m.id });
    void Promise.resolve()
      .then(() => run(m))
      .then(
        (value) => {
          try {
            post({ t: 'reply', id: m.id, ok: true, value });
          } catch (err) {
            post({ t: 'reply', id: m.id, ok: false, error: toWire(new Error(`its answer cannot be sent to Mixer: ${(err as Error).message}`)) });
          }
        },
        (err: unknown) => post({ t: 'reply', id: m.id, ok: false, error: toWire(err) }),
      );
  });
  const methods = (['check', 'quota', 'report'] as const).filter((k) => typeof handler[k] === 'function');
  post({ t: 'ready', methods, routes: handler.routes !== undefined && Object.keys(handler.routes).length > 0 });
}

// Only as a worker thread (importing this file elsewhere does nothing).
if (parentPort && data?.source) main().catch((err: unknown) => post({ t: 'fatal', error: toWire(err) }));
