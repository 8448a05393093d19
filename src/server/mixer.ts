import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { connectRedis, describeRedis } from '../base/redis-connect';
import { ReplicaWaiter } from '../base/redis-replicas';
import type { RedisConnection, RedisSpec } from '../base/redis-connect';
import type { Logger } from 'pino';
import { adapterInventory } from '../../adapters/index';
import { createAdapterResolver } from '../plugins/loader';
import { createApp } from '../api/http/app';
import { createHttpServer } from '../api/http/server';
import { handleReport } from '../api/http/report-route';
import { extAuthzRoutes } from '../api/http/ext-authz-route';
import { deadLetterRoutes } from '../api/http/deadletters-routes';
import { configRoutes } from '../api/http/config-routes';
import { API_DIR_NAME } from '../config/api-store';
import { DirApiStore } from '../config/dir-api-store';
import { RedisApiStore } from '../config/redis-api-store';
import { meshRoutes } from '../mesh/control/mixer-routes';
import { caRoutes } from '../mesh/control/ca-routes';
import { clientCertGuard } from '../mesh/control/client-auth';
import type { MeshCa } from '../mesh/control/ca';
import { meshKeyFromEnv } from '../mesh/common/mesh-key';
import { identityOfSan } from '../mesh/common/pki';
import { MeshTokenAuthenticator } from '../mesh/common/bootstrap';
import { requireAdmin } from '../api/http/admin';
import { startMeshCa } from './mesh-ca';
import { startServerTls } from './tls';
import type { ServerTls } from './tls';
import { SelfMetrics } from '../metrics/self-metrics';
import type { ReportQueue } from '../queue/report-queue';
import { ConfigStore } from '../runtime/config-store';
import { ThrottledLog } from '../base/throttled-log';
import { ObserverHub, replicaName } from '../runtime/observers';
import { TapRelay } from '../tap/relay';
import { TapService } from '../tap/service';
import { tapRoutes } from '../api/http/tap-route';
import { startGrpcServer } from '../api/grpc/server';
import type { RunningGrpc } from '../api/grpc/server';
import { createReportQueue } from './queue-factory';
import type { Settings } from './settings';

/** A running `mixer serve`. */
export interface RunningMixer {
  readonly port: number;
  /** Port of the gRPC listener; undefined when it is off (MIXER_GRPC_PORT=0). */
  readonly grpcPort: number | undefined;
  readonly store: ConfigStore;
  readonly metrics: SelfMetrics;
  readonly queue: ReportQueue;
  /** The mesh CA, when on (then the port speaks TLS). */
  readonly ca?: MeshCa;
  /** The listener TLS, when the CA is on: a gRPC listener takes the same from here. */
  readonly tls?: ServerTls;
  /** Stops accepting, drains requests and reports in flight, closes handlers and connections. Safe twice. */
  close(): Promise<void>;
}

/** Connects to Redis (any mode) and keeps `mixer_redis_up` current; never throws for an unreachable server. */
export function connectMixerRedis(spec: RedisSpec, logger: Logger, metrics: SelfMetrics): RedisConnection {
  const redis = connectRedis(spec, 'command');
  let up = false;
  redis.on('ready', () => {
    up = true;
    metrics.redisUp.set(1);
    logger.info({ redis: describeRedis(spec) }, 'redis connected');
  });
  redis.on('close', () => {
    if (up) logger.warn('redis connection lost; checks keep serving, reports answer 503 until it is back');
    up = false;
    metrics.redisUp.set(0);
  });
  redis.on('error', () => {
    /* logged through 'close'; ioredis retries by itself */
  });
  return redis;
}

/** Loads the config (throws ConfigError when invalid) with handlers for `role`. */
export async function startConfig(
  settings: Settings,
  logger: Logger,
  metrics: SelfMetrics,
  redis: RedisConnection | undefined,
  role: 'serve' | 'worker',
  observers?: ObserverHub,
): Promise<ConfigStore> {
  const store = new ConfigStore({
    dir: settings.configDir,
    adapters: adapterInventory(),
    resolveAdapters: createAdapterResolver({ pluginsDir: settings.pluginsDir, logger }),
    callTimeoutMs: settings.adapterTimeoutMs,
    reportTimeoutMs: settings.delivery.timeoutMs,
    logger,
    metrics,
    redis,
    // Adapters' counts and markers wait for the replicas connected to their primary (env.awaitReplicas).
    replicas: redis ? new ReplicaWaiter(redis, { onUnreplicated: () => metrics.redisUnreplicated.inc({ what: 'adapter' }) }) : undefined,
    role,
    keyPrefix: settings.keyPrefix,
    observers,
    drainMs: Math.max(settings.adapterTimeoutMs, settings.delivery.timeoutMs ?? 30_000) + 1000,
    // Config API objects: shared through Redis, else kept beside the files (the loader skips hidden entries).
    api: redis ? new RedisApiStore(redis, settings.keyPrefix, logger) : new DirApiStore(`${settings.configDir}/${API_DIR_NAME}`),
  });
  try {
    await store.start();
  } catch (err) {
    await store.close();
    redis?.disconnect();
    throw err;
  }
  store.watch();
  return store;
}

/** Starts `mixer serve`: check and report API on one port, and (unless `worker` is off) report workers. */
export async function startMixer(settings: Settings, logger: Logger): Promise<RunningMixer> {
  const metrics = new SelfMetrics();
  metrics.redisUp.set(0);
  const redis = settings.redis ? connectMixerRedis(settings.redis, logger, metrics) : undefined;
  if (!redis)
    logger.warn(
      'no Redis set (REDIS_URL, MIXER_REDIS_CLUSTER, MIXER_REDIS_SENTINELS): embedded in-process queue; reports answered 202 are held in memory (shutdown drains them, a crash loses them)',
    );
  const throttled = new ThrottledLog(logger);
  const observers = new ObserverHub(replicaName(), throttled);
  const store = await startConfig(settings, logger, metrics, redis, 'serve', observers);
  // The live tap: this replica's traffic, and with Redis every replica's (see TapRelay).
  const vocab = () => store.current.plan.vocabulary;
  const relay = redis ? new TapRelay(redis, settings.keyPrefix, observers, vocab, logger) : undefined;
  const taps = new TapService(observers, vocab, metrics.registry, settings.tap, relay);
  const queue = createReportQueue(settings, store, metrics, logger);
  if (settings.worker) queue.startWorkers();
  else if (!redis) logger.warn('--no-worker without Redis: reports are queued in memory and nothing delivers them');

  let ca: MeshCa | undefined;
  let tls: ServerTls | undefined;
  if (settings.ca) {
    ca = await startMeshCa(settings.ca, { redis, keyPrefix: settings.keyPrefix, configDir: settings.configDir, logger, registry: metrics.registry });
    tls = await startServerTls(ca, logger, settings.ca.extraNames);
  }
  const meshKey = meshKeyFromEnv();
  const app = createApp({
    store,
    metrics,
    redisState: () => (!redis ? 'not configured' : redis.status === 'ready' ? 'up' : 'down'),
    mount: (a) =>
      a.use(
        deadLetterRoutes(queue, settings.adminToken),
        configRoutes(store, { adminToken: settings.adminToken, maxBodyBytes: settings.maxConfigBodyBytes }),
        meshRoutes({ store, redis, keyPrefix: settings.keyPrefix, logger, clientAuth: settings.ca?.clientAuth }),
        tapRoutes(taps, observers.replica, settings.adminToken),
        ...(ca ? [caRoutes({ ca, bootstrap: meshKey ? new MeshTokenAuthenticator(meshKey) : undefined, admin: requireAdmin(settings.adminToken) })] : []),
      ),
  });
  const limits = { maxAttributes: settings.maxAttributes, maxBodyBytes: settings.maxBodyBytes, maxBags: settings.maxBags };
  const doors = { store, metrics, log: throttled, queue, limits, adapterTimeoutMs: settings.adapterTimeoutMs, redact: settings.redactHeaders };
  const server: Server | HttpsServer = createHttpServer(
    app,
    doors,
    {
      '/v1/report': (req, res) => void handleReport(req, res, { store, metrics, queue, limits, redact: settings.redactHeaders }),
      ...extAuthzRoutes(doors),
    },
    tls && settings.ca
      ? {
          tls: tls.serverOptions(),
          guard: clientCertGuard(settings.ca.clientAuth, (path) =>
            metrics.requestErrors.inc({
              route: path.startsWith('/v1/registry/') ? 'registry' : path.startsWith('/v1/ext-authz') ? 'ext-authz' : path.slice(4),
              code: 'MIXER_ERR_CLIENT_CERT_REQUIRED',
            }),
          ),
        }
      : {},
  );
  if (tls) tls.onChange((t) => (server as HttpsServer).setSecureContext(t.serverOptions()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let grpc: RunningGrpc | undefined;
  if (settings.grpcPort !== 0) {
    try {
      grpc = await startGrpcServer(doors, {
        host: settings.host,
        port: settings.grpcPort,
        maxMessageBytes: settings.maxBodyBytes,
        // The same serving certificate, roots and renewals as the HTTP port; callers checked per method.
        tls: tls && settings.ca ? { source: tls, auth: { mode: settings.ca.clientAuth, identify: identityOfSan } } : undefined,
      });
    } catch (err) {
      server.close();
      await queue.close();
      await store.close();
      redis?.disconnect();
      throw new Error(`cannot listen for gRPC on ${settings.host}:${settings.grpcPort} (MIXER_GRPC_PORT; 0 turns it off): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  logger.info(
    {
      port,
      grpcPort: grpc?.port,
      tls: tls ? `on (client certificates ${settings.ca!.clientAuth})` : 'off',
      configDir: settings.configDir,
      generation: store.status.generation,
      queue: queue.kind,
      worker: settings.worker,
    },
    'mixer serving',
  );
  let closing: Promise<void> | undefined;
  return {
    port,
    grpcPort: grpc?.port,
    store,
    metrics,
    queue,
    ca,
    tls,
    close: () =>
      (closing ??= (async () => {
        logger.info('shutting down: draining requests in flight');
        await taps.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 10_000);
        await Promise.all([closed, grpc?.close(10_000)]);
        clearTimeout(force);
        logger.info({ queue: queue.kind }, 'draining report work in hand');
        tls?.close();
        ca?.stop();
        await queue.close();
        await store.close();
        if (redis) await redis.quit().catch(() => redis.disconnect());
        logger.info('stopped');
      })()),
  };
}
