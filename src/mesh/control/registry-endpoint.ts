import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { formatDuration } from '../../attributes/duration';
import { MixerError } from '../../base/errors';
import { deriveKey, verifyRequest } from '../common/mesh-key';
import { decodeInstance } from '../common/registry-types';
import type { RegistryStore } from '../common/registry-types';

/** Options of Mixer's registry routes. */
export interface RegistryRouteOptions {
  store: RegistryStore;
  /** `MIXER_MESH_KEY`; unset: the registry is off (403), never open. */
  meshKey?: string;
  /** How long an instance stays listed after its last heartbeat, ms. */
  ttlMs: number;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_BODY = 64 * 1024;

/**
 * `POST /v1/registry/heartbeat` (`{"instance": {...}, "leave"?: true}` → `{"ttl", "heartbeatInterval"}`) and
 * `GET /v1/registry/services/:name?namespace=ns` (→ `{"service", "namespace", "instances": [...]}`).
 * Both must carry `x-mesh-timestamp` and `x-mesh-signature` made with the mesh key
 * (see `signRequest`); stale timestamps are refused. An open registry would let anyone hijack traffic.
 */
export function registryRoutes(o: RegistryRouteOptions): express.Router {
  const router = express.Router();
  const key = o.meshKey ? deriveKey(o.meshKey, 'registry') : undefined;
  const ttl = formatDuration(o.ttlMs);
  const interval = formatDuration(Math.max(100, Math.floor(o.ttlMs / 3)));

  const authenticate = (req: Request, body: Buffer): void => {
    if (!key)
      throw new MixerError(
        'MIXER_ERR_API_DISABLED',
        'the mesh registry is off: set MIXER_MESH_KEY (the same on Mixer, sidecars and the ingress) to turn it on',
      );
    const why = verifyRequest(key, req.method, req.originalUrl, body, req.headers);
    if (why) throw new MixerError('MIXER_ERR_UNAUTHORIZED', `registry call refused: ${why}`);
  };

  router.post('/v1/registry/heartbeat', express.raw({ type: () => true, limit: MAX_BODY }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      authenticate(req, body);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new MixerError('MIXER_ERR_BAD_JSON', `heartbeat body is not valid JSON: ${(err as Error).message}`);
      }
      const p = parsed as { instance?: unknown; leave?: unknown } | null;
      const { instance, errors } = decodeInstance(p?.instance);
      if (!instance)
        throw new MixerError('MIXER_ERR_BAD_REQUEST', `bad heartbeat: ${errors.map((e) => `${e.field}: ${e.reason}`).join('; ')}`, { details: errors });
      if (p?.leave === true) await o.store.leave(instance.namespace, instance.service, instance.id);
      else await o.store.heartbeat(instance, o.ttlMs);
      res.json({ ttl, heartbeatInterval: interval });
    } catch (err) {
      next(err);
    }
  });

  router.get('/v1/registry/services/:name', async (req: Request, res: Response, next: NextFunction) => {
    try {
      authenticate(req, Buffer.alloc(0));
      const name = String(req.params.name);
      const namespace = typeof req.query.namespace === 'string' ? req.query.namespace : 'default';
      for (const [field, v] of [
        ['name', name],
        ['namespace', namespace],
      ] as const) {
        if (!NAME.test(v))
          throw new MixerError('MIXER_ERR_BAD_REQUEST', `${field} ${JSON.stringify(v)} is not a DNS-1123 label`, {
            details: [{ field, reason: 'not a DNS-1123 label' }],
          });
      }
      res.json({ service: name, namespace, ttl, instances: await o.store.list(namespace, name) });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
