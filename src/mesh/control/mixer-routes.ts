import express from 'express';
import type { RedisConnection } from '../../base/redis-connect';
import type { Logger } from 'pino';
import { parseDuration } from '../../attributes/duration';
import type { ConfigStore } from '../../runtime/config-store';
import { meshKeyFromEnv } from '../common/mesh-key';
import { registryRoutes } from './registry-endpoint';
import { MemoryRegistryStore } from './registry-memory-store';
import { RedisRegistryStore } from './registry-redis-store';
import { routesEndpoint } from './routes-endpoint';
import type { ClientAuthMode } from './client-auth';

/** Default time an instance stays registered after its last heartbeat (`MIXER_REGISTRY_TTL`). */
export const DEFAULT_REGISTRY_TTL_MS = 10_000;

/** What Mixer's mesh routes need from `mixer serve`. */
export interface MeshRouteDeps {
  store: ConfigStore;
  /** Mixer's Redis connection; unset: the registry is kept in memory (one replica only). */
  redis?: RedisConnection;
  /** MIXER_KEY_PREFIX. */
  keyPrefix: string;
  logger: Logger;
  /** Reads MIXER_MESH_KEY and MIXER_REGISTRY_TTL (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** With the CA on: how the registry knows callers (client certificates; see `client-auth.ts`). */
  clientAuth?: ClientAuthMode;
}

/** `MIXER_REGISTRY_TTL` (Go duration, at least 500ms), default 10s. Throws on a bad value. */
export function registryTtlFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MIXER_REGISTRY_TTL;
  if (raw === undefined || raw === '') return DEFAULT_REGISTRY_TTL_MS;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 500) throw new Error(`MIXER_REGISTRY_TTL must be a duration of at least 500ms, got ${JSON.stringify(raw)}`);
  return ms;
}

/**
 * Mixer's side of the mesh, mounted into `mixer serve`'s app: the service registry
 * (`/v1/registry/*`, authenticated with MIXER_MESH_KEY; in Redis when Mixer has one) and
 * `GET /v1/routes` (RouteRules and the config generation, polled by sidecars with an ETag).
 */
export function meshRoutes(deps: MeshRouteDeps): express.Router {
  const env = deps.env ?? process.env;
  const meshKey = meshKeyFromEnv(env);
  const ttlMs = registryTtlFromEnv(env);
  const store = deps.redis ? new RedisRegistryStore(deps.redis, deps.keyPrefix) : new MemoryRegistryStore();
  if (!meshKey && !deps.clientAuth) deps.logger.info('MIXER_MESH_KEY is not set: the mesh registry is off (sidecars cannot register)');
  const router = express.Router();
  router.get('/v1/routes', routesEndpoint(deps.store));
  router.use(registryRoutes({ store, meshKey, ttlMs, clientAuth: deps.clientAuth }));
  return router;
}
