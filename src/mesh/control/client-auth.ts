/**
 * Who is calling Mixer, from the TLS client certificate (with the CA on): a certificate chained
 * to a trusted mesh root, valid now, naming exactly one SPIFFE id. `MIXER_CLIENT_AUTH` decides
 * what a call without one may do: `required` (the default with the CA on) refuses check, report
 * and the registry; `optional` lets them through (and the registry falls back to the mesh-key
 * signature); `/metrics`, `/healthz`, `/readyz`, the graph page and the CA's bootstrap stay open.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MixerError, httpStatusOf } from '../../base/errors';
import { identityOfSan } from '../common/pki';
import type { SpiffeIdentity } from '../common/pki';

/** `MIXER_CLIENT_AUTH`. */
export type ClientAuthMode = 'required' | 'optional';

/** The verified identity of a TLS connection, or why there is none. */
export type PeerResult = { identity: SpiffeIdentity } | { error: string };

const cache = new WeakMap<Socket, PeerResult>();

/** The caller's identity from its client certificate (computed once per connection). */
export function peerIdentity(socket: Socket): PeerResult {
  const hit = cache.get(socket);
  if (hit) return hit;
  const s = socket as TLSSocket;
  let r: PeerResult;
  if (!s.encrypted) r = { error: 'plaintext connection' };
  else {
    const cert = s.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) r = { error: 'no client certificate' };
    else if (!s.authorized) r = { error: `client certificate refused: ${String(s.authorizationError)}` };
    else {
      const identity = identityOfSan(cert.subjectaltname);
      r = identity ? { identity } : { error: 'the client certificate names no SPIFFE id' };
    }
  }
  cache.set(socket, r);
  return r;
}

/** Paths that need a client certificate when client auth is `required`: check (also in Envoy's HTTP ext_authz form), report, the registry. */
export function needsClientCert(path: string): boolean {
  return path === '/v1/check' || path === '/v1/report' || path.startsWith('/v1/registry/') || path === '/v1/ext-authz' || path.startsWith('/v1/ext-authz/');
}

/** `MIXER_CLIENT_AUTH` (default `required`). Throws on another value. */
export function clientAuthFromEnv(env: NodeJS.ProcessEnv = process.env): ClientAuthMode {
  const v = (env.MIXER_CLIENT_AUTH ?? '').toLowerCase() || 'required';
  if (v !== 'required' && v !== 'optional') throw new Error(`MIXER_CLIENT_AUTH must be required or optional, got ${JSON.stringify(env.MIXER_CLIENT_AUTH)}`);
  return v;
}

/**
 * The listener's guard: with `required`, a call to check, report or the registry without a valid
 * mesh client certificate is answered 401 `MIXER_ERR_CLIENT_CERT_REQUIRED`; `refused` hears each.
 */
export function clientCertGuard(mode: ClientAuthMode, refused: (path: string) => void): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  return (req, res, path) => {
    if (mode !== 'required' || !needsClientCert(path)) return true;
    const peer = peerIdentity(req.socket);
    if ('identity' in peer) return true;
    const err = new MixerError('MIXER_ERR_CLIENT_CERT_REQUIRED', `${path} needs a client certificate from the mesh CA: ${peer.error}`);
    const body = JSON.stringify(err.toJSON());
    req.resume();
    res.writeHead(httpStatusOf(err.code), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    refused(path);
    return false;
  };
}
