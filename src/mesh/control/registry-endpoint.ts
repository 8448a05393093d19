import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { formatDuration } from '../../attributes/duration';
import { MixerError } from '../../base/errors';
import { deriveKey, verifyRequest } from '../common/mesh-key';
import { decodeInstance } from '../common/registry-types';
import type { RegistryStore, ServiceInstance } from '../common/registry-types';
import type { SpiffeIdentity } from '../common/pki';
import { peerIdentity } from './client-auth';
import type { ClientAuthMode } from './client-auth';

/** Options of Mixer's registry routes. */
export interface RegistryRouteOptions {
  store: RegistryStore;
  /** `MIXER_MESH_KEY`; unset: the registry is off (403), never open. */
  meshKey?: string;
  /** How long an instance stays listed after its last heartbeat, ms. */
  ttlMs: number;
  /**
   * With the CA on: callers are known by their client certificate, and a heartbeat may register
   * only an instance of the certificate's own identity. `required`: nothing else is accepted;
   * `optional`: a call without a certificate may still be signed with the mesh key.
   */
  clientAuth?: ClientAuthMode;
}

/** Why `identity` may not register `instance` (its service must be the certificate's service account), or undefined. */
export function bindingError(identity: SpiffeIdentity, instance: ServiceInstance): string | undefined {
  if (instance.namespace !== identity.namespace) return `a certificate of namespace ${identity.namespace} cannot register in ${instance.namespace}`;
  if (instance.service !== identity.serviceAccount) return `a certificate of ${identity.principal} cannot register service ${instance.service}`;
  if (instance.principal !== identity.principal) return `the instance's principal must be ${identity.principal}`;
  return undefined;
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

  /** The caller's certificate identity, when it has one; else the mesh-key signature must hold. */
  const authenticate = (req: Request, body: Buffer): SpiffeIdentity | undefined => {
    if (o.clientAuth) {
      const peer = peerIdentity(req.socket);
      if ('identity' in peer) return peer.identity;
      if (o.clientAuth === 'required')
        throw new MixerError('MIXER_ERR_CLIENT_CERT_REQUIRED', `the registry needs a client certificate from the mesh CA: ${peer.error}`);
    }
    if (!key)
      throw new MixerError(
        'MIXER_ERR_API_DISABLED',
        'the mesh registry is off: set MIXER_MESH_KEY (the same on Mixer, sidecars and the ingress) to turn it on',
      );
    const why = verifyRequest(key, req.method, req.originalUrl, body, req.headers);
    if (why) throw new MixerError('MIXER_ERR_UNAUTHORIZED', `registry call refused: ${why}`);
    return undefined;
  };

  router.post('/v1/registry/heartbeat', express.raw({ type: () => true, limit: MAX_BODY }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const caller = authenticate(req, body);
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
      const unbound = caller && bindingError(caller, instance);
      if (unbound) throw new MixerError('MIXER_ERR_FORBIDDEN', `registration refused: ${unbound}`);
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
