import type { RedisConnection } from '../base/redis-connect';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parseDuration } from '../attributes/duration';
import { MeshCa, MIN_CERT_TTL_MS } from '../mesh/control/ca';
import { DirRootStore, FileRootStore, RedisRootStore } from '../mesh/control/ca-store';
import type { ClientAuthMode } from '../mesh/control/client-auth';
import { clientAuthFromEnv } from '../mesh/control/client-auth';

/** The CA settings of `mixer serve` (see docs/security.md). */
export interface CaSettings {
  /** MIXER_CA_CERT / MIXER_CA_KEY: the root from files; unset: generated on first start and kept. */
  certFile?: string;
  keyFile?: string;
  /** MIXER_CA_TTL: default workload certificate lifetime (Go duration, at least 1m; default 24h). */
  ttlMs?: number;
  /** MIXER_CA_MAX_TTL: longest lifetime a CSR may ask for (default the larger of 24h and MIXER_CA_TTL). */
  maxTtlMs?: number;
  /** MIXER_CLIENT_AUTH: `required` (default) or `optional`. */
  clientAuth: ClientAuthMode;
  /** MIXER_TLS_SANS: more DNS names or IPs for Mixer's serving certificate (comma-separated). */
  extraNames: string[];
}

function ttl(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < MIN_CERT_TTL_MS) throw new Error(`${name} must be a duration of at least 1m, got ${JSON.stringify(raw)}`);
  return ms;
}

/** The CA settings, or undefined when the CA is off (neither `MIXER_CA=on` nor the cert and key files). Throws on bad values. */
export function caSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): CaSettings | undefined {
  const flag = (env.MIXER_CA ?? '').toLowerCase();
  if (flag !== '' && !['on', 'off', 'true', 'false', '1', '0'].includes(flag))
    throw new Error(`MIXER_CA must be on or off, got ${JSON.stringify(env.MIXER_CA)}`);
  const certFile = env.MIXER_CA_CERT || undefined;
  const keyFile = env.MIXER_CA_KEY || undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new Error('MIXER_CA_CERT and MIXER_CA_KEY go together: set both or neither');
  const on = ['on', 'true', '1'].includes(flag) || (certFile !== undefined && !['off', 'false', '0'].includes(flag));
  if (!on) return undefined;
  return {
    certFile,
    keyFile,
    ttlMs: ttl('MIXER_CA_TTL', env.MIXER_CA_TTL),
    maxTtlMs: ttl('MIXER_CA_MAX_TTL', env.MIXER_CA_MAX_TTL),
    clientAuth: clientAuthFromEnv(env),
    extraNames: (env.MIXER_TLS_SANS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** Starts the CA with its roots from files, else Redis (shared by replicas), else the config directory. */
export async function startMeshCa(
  s: CaSettings,
  o: { redis?: RedisConnection; keyPrefix: string; configDir: string; logger: Logger; registry: Registry },
): Promise<MeshCa> {
  const store =
    s.certFile && s.keyFile ? new FileRootStore(s.certFile, s.keyFile) : o.redis ? new RedisRootStore(o.redis, o.keyPrefix) : new DirRootStore(o.configDir);
  const redis = o.redis;
  if (redis && !s.certFile && redis.status !== 'ready')
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the mesh CA keeps its root in Redis, and Redis is not reachable')), 15_000);
      redis.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  const ca = new MeshCa({ store, logger: o.logger, registry: o.registry, defaultTtlMs: s.ttlMs, maxTtlMs: s.maxTtlMs });
  await ca.start();
  return ca;
}
