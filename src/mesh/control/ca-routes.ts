import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { parseDuration } from '../../attributes/duration';
import { MixerError } from '../../base/errors';
import { ANSWER_PROOF_HEADER } from '../common/bootstrap';
import type { BootstrapAuthenticator } from '../common/bootstrap';
import type { MeshCa } from './ca';
import { SignError } from './ca';
import { peerIdentity } from './client-auth';

/** What the CA's routes need. */
export interface CaRouteDeps {
  ca: MeshCa;
  /** How a workload without a certificate proves who it is (mesh token; a Kubernetes token would plug in here). */
  bootstrap?: BootstrapAuthenticator;
  /** Guards `POST /v1/ca/rotate` (the admin token). */
  admin: RequestHandler;
}

const MAX_CSR_BYTES = 16 * 1024;

function bad(field: string, reason: string): MixerError {
  return new MixerError('MIXER_ERR_BAD_REQUEST', `${field}: ${reason}`, { details: [{ field, reason }] });
}

/**
 * `POST /v1/ca/sign` (the shape of Istio's CSR API: `{"csr": PEM, "validityDuration": seconds}` →
 * `{"certChain": [leaf, root], "roots": [...]}`): a caller with a valid mesh certificate may renew
 * its own identity only; one without proves its workload identity with a bootstrap credential
 * (`authorization: MeshToken <proof>`), and the answer carries `x-mesh-ca-proof`. `GET /v1/ca/roots`
 * lists the trusted roots (public). `POST /v1/ca/rotate` (admin token, `{"propagate": "30s",
 * "overlap": "48h"}`) starts a root rotation.
 */
export function caRoutes(d: CaRouteDeps): express.Router {
  const r = express.Router();
  r.post('/v1/ca/sign', express.json({ limit: MAX_CSR_BYTES }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const body = req.body as { csr?: unknown; validityDuration?: unknown } | undefined;
      if (typeof body?.csr !== 'string') throw bad('csr', 'a PEM PKCS #10 request is required');
      const ttl = body.validityDuration;
      if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0))
        throw bad('validityDuration', 'seconds, a positive integer');
      let read;
      try {
        read = await d.ca.readCsr(body.csr);
      } catch (err) {
        if (err instanceof SignError) throw bad('csr', err.message);
        throw err;
      }
      const { csr, identity } = read;
      const peer = peerIdentity(req.socket);
      let proof: string | undefined;
      if ('identity' in peer) {
        if (peer.identity.principal !== identity.principal) {
          d.ca.countFailure('identity');
          throw new MixerError('MIXER_ERR_FORBIDDEN', `a certificate of ${peer.identity.principal} may renew only its own identity, not ${identity.principal}`);
        }
      } else {
        if (!d.bootstrap) throw new MixerError('MIXER_ERR_API_DISABLED', 'bootstrap is off (no MIXER_MESH_KEY): ask with a client certificate');
        const why = await d.bootstrap.authenticate(req.headers.authorization, body.csr, identity.namespace, identity.serviceAccount);
        if (why) {
          d.ca.countFailure(req.headers.authorization ? 'identity' : 'unauthenticated');
          throw new MixerError(req.headers.authorization ? 'MIXER_ERR_FORBIDDEN' : 'MIXER_ERR_UNAUTHORIZED', `certificate refused: ${why}`);
        }
      }
      const signed = await d.ca.sign(csr, identity, ttl === undefined ? undefined : ttl * 1000);
      const text = JSON.stringify({ certChain: signed.certChain, roots: signed.roots });
      if (!('identity' in peer)) proof = d.bootstrap?.answerProof?.(text, identity.namespace, identity.serviceAccount);
      if (proof) res.setHeader(ANSWER_PROOF_HEADER, proof);
      res.status(200).type('application/json').send(text);
    } catch (err) {
      next(err);
    }
  });
  r.get('/v1/ca/roots', (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.json({ roots: d.ca.trustedRoots(), details: d.ca.describeRoots(), defaultTtlSeconds: d.ca.defaultTtlMs / 1000 });
  });
  r.post('/v1/ca/rotate', d.admin, express.json({ limit: 4096 }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const body = (req.body ?? {}) as { propagate?: unknown; overlap?: unknown };
      const dur = (field: 'propagate' | 'overlap', def: number): number => {
        const v = body[field];
        if (v === undefined) return def;
        const ms = typeof v === 'string' ? parseDuration(v) : undefined;
        if (ms === undefined || ms < 0) throw bad(field, 'a Go duration such as 30s or 48h');
        return ms;
      };
      // Defaults: proxies poll the roots every few seconds; certificates signed by the old root live at most the longest lifetime.
      const propagate = dur('propagate', 30_000);
      const overlap = dur('overlap', 2 * d.ca.maxTtlMs);
      try {
        await d.ca.rotate(propagate, overlap);
      } catch (err) {
        throw new MixerError('MIXER_ERR_CONFLICT', (err as Error).message);
      }
      res.json({ roots: d.ca.describeRoots() });
    } catch (err) {
      next(err);
    }
  });
  return r;
}
