/**
 * The mesh key (`MIXER_MESH_KEY`): a shared secret of Mixer, sidecars and the ingress. Until mutual
 * TLS exists it authenticates two things, each with a key derived for that purpose only (a
 * signature made for one can never pass as the other):
 * - registry calls to Mixer (HMAC-SHA256 over method, path, timestamp and body), and
 * - the caller identity sidecars pass to each other (see `identity.ts`), and
 * - with the CA on, the per-workload bootstrap tokens (see `bootstrap.ts`): Mixer derives them, each
 *   workload holds only its own.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Shortest mesh key accepted, characters. */
export const MIN_MESH_KEY_LENGTH = 16;
/** How far a signed timestamp may be from the verifier's clock, ms (older or newer is stale). */
export const MAX_CLOCK_SKEW_MS = 30_000;

export const TIMESTAMP_HEADER = 'x-mesh-timestamp';
export const SIGNATURE_HEADER = 'x-mesh-signature';

/** Purposes a key is derived for. */
export type KeyPurpose = 'registry' | 'identity' | 'bootstrap';

/**
 * Reads `MIXER_MESH_KEY`. Unset or empty: undefined (the registry is off). Too short: throws.
 */
export function meshKeyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const key = env.MIXER_MESH_KEY;
  if (key === undefined || key === '') return undefined;
  if (key.length < MIN_MESH_KEY_LENGTH) throw new Error(`MIXER_MESH_KEY must be at least ${MIN_MESH_KEY_LENGTH} characters`);
  return key;
}

/** The key for one purpose, derived from the mesh key. */
export function deriveKey(meshKey: string, purpose: KeyPurpose): Buffer {
  return createHmac('sha256', meshKey).update(`mixer-mesh/${purpose}/v1`).digest();
}

function requestMac(key: Buffer, method: string, path: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', key).update(`${method.toUpperCase()}\n${path}\n${timestamp}\n`).update(body).digest();
}

/**
 * Headers that authenticate one request to Mixer's registry: `x-mesh-timestamp` (epoch ms) and
 * `x-mesh-signature` (hex HMAC-SHA256 of `METHOD\npath?query\ntimestamp\nbody` under the
 * registry key).
 */
export function signRequest(registryKey: Buffer, method: string, path: string, body: Buffer | string, now = Date.now()): Record<string, string> {
  const ts = String(now);
  return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: requestMac(registryKey, method, path, ts, body).toString('hex') };
}

/** Why a signed request was refused; undefined when it is authentic and fresh. */
export function verifyRequest(
  registryKey: Buffer,
  method: string,
  path: string,
  body: Buffer | string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  now = Date.now(),
): string | undefined {
  const ts = headers[TIMESTAMP_HEADER];
  const sig = headers[SIGNATURE_HEADER];
  if (typeof ts !== 'string' || typeof sig !== 'string') return `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER}`;
  const at = Number(ts);
  if (!/^\d{1,15}$/.test(ts) || Math.abs(now - at) > MAX_CLOCK_SKEW_MS)
    return `stale or malformed ${TIMESTAMP_HEADER} (more than ${MAX_CLOCK_SKEW_MS / 1000}s from Mixer's clock)`;
  if (!/^[0-9a-f]{64}$/.test(sig)) return `malformed ${SIGNATURE_HEADER}`;
  const want = requestMac(registryKey, method, path, ts, body);
  return timingSafeEqual(want, Buffer.from(sig, 'hex')) ? undefined : 'wrong signature (is MIXER_MESH_KEY the same everywhere?)';
}
