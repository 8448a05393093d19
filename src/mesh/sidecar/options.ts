import { readFileSync } from 'node:fs';
import { parseRedactedHeaders } from '../../attributes/redact';
import { meshKeyFromEnv } from '../common/mesh-key';
import { DEFAULT_MAX_HEADER_BYTES } from './attributes';
import type { ReportHeaderPolicy } from './attributes';
import { DEFAULT_MAX_BATCH_BYTES } from './report-batcher';
import { bootstrapToken } from '../common/bootstrap';
import { principalOf } from '../common/identity';
import type { WorkloadIdentity } from '../common/identity';
import { randomHex } from './trace';

/** What every mesh proxy (sidecar or ingress) needs. */
export interface ProxyOptions {
  identity: WorkloadIdentity;
  /** Mixer's base URL (`--mixer`, MIXER_URL, default http://127.0.0.1:9091). */
  mixerUrl: string;
  /**
   * MIXER_MESH_KEY: required with a plaintext Mixer (`http://`); with Mixer's CA on (`https://`) it is
   * needed only to sign identities for plaintext calls to PERMISSIVE workloads.
   */
  meshKey?: string;
  /**
   * With Mixer's CA on: this workload's bootstrap token (MIXER_BOOTSTRAP_TOKEN or the file
   * MIXER_BOOTSTRAP_TOKEN_FILE; derived from MIXER_MESH_KEY when only that is set).
   */
  bootstrapToken?: string;
  /** Address the proxy listens on (`--host`, default 127.0.0.1): a sidecar's inbound and admin ports, the ingress's port. */
  host: string;
  /** Where the app (sidecar) or the world (ingress) sends requests to other services. */
  outboundPort: number;
  /** Status page (`/status`, `/healthz`) port; undefined: none. */
  adminPort?: number;
  /** Whole-request timeout when no RouteRule sets one, ms (default 15 s, Envoy's). */
  defaultTimeoutMs: number;
  logLevel: string;
  /**
   * Report bags' `request.headers`: names redacted (`MIXER_<KIND>_REDACT_HEADERS`, comma list or
   * `none`; default authorization, cookie, proxy-authorization, set-cookie) and the byte cap
   * (`MIXER_<KIND>_MAX_HEADER_BYTES`, default 8192).
   */
  reportHeaders: ReportHeaderPolicy;
  /** Bytes of bags per report (`MIXER_<KIND>_MAX_REPORT_BYTES`, default 512 KiB; keep under Mixer's MIXER_MAX_BODY_BYTES). */
  maxReportBytes: number;
}

/** A sidecar: a proxy beside one app instance. */
export interface SidecarOptions extends ProxyOptions {
  appHost: string;
  appPort: number;
  /** Where other proxies send this instance's traffic. */
  inboundPort: number;
  /**
   * Address the outbound port listens on (`--outbound-host`, default 127.0.0.1 whatever `host` is):
   * only the app beside the sidecar (same pod or host) may send through it, with this
   * instance's identity.
   */
  outboundHost: string;
  /** Host registered for `inboundPort` (`--address`, default 127.0.0.1). */
  address: string;
  /** Allow requests when Mixer cannot be asked (default false: fail closed, as Istio). */
  failOpen: boolean;
  /** Longest wait for a check answer, ms (default 1000); past it the fail policy applies. */
  checkTimeoutMs: number;
  /** Accept callers without a mesh identity, as an unknown source (default false: 401). */
  permissive: boolean;
}

/** Flag values as commander gives them (strings or booleans), by option name. */
export type Flags = Readonly<Record<string, string | boolean | undefined>>;

function int(name: string, raw: string | undefined, def: number | undefined, min = 0, max = 65_535): number | undefined {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function bool(raw: string | boolean | undefined): boolean {
  return raw === true || (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw));
}

/** `app=backend,version=v1` → labels. Throws on an entry without `=`. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const s = part.trim();
    if (s === '') continue;
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`labels must look like app=backend,version=v1; got ${JSON.stringify(s)}`);
    out[s.slice(0, eq).trim()] = s.slice(eq + 1).trim();
  }
  return out;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The options every proxy shares, from flags over `MIXER_<KIND>_*` environment variables
 * (`MIXER_SIDECAR_SERVICE`, `MIXER_INGRESS_SERVICE`, ...) and MIXER_URL, MIXER_MESH_KEY.
 */
export function resolveProxyOptions(
  kind: 'sidecar' | 'ingress',
  f: Flags,
  env: NodeJS.ProcessEnv,
  defaults: { service?: string; namespace: string; outboundPort: number },
): ProxyOptions {
  const e = (k: string): string | undefined => env[`MIXER_${kind.toUpperCase()}_${k}`] || undefined;
  const s = (k: string): string | undefined => (typeof f[k] === 'string' ? f[k] : undefined);
  const service = s('service') ?? e('SERVICE') ?? defaults.service;
  if (!service || !NAME.test(service))
    throw new Error(`--service (MIXER_${kind.toUpperCase()}_SERVICE) must be a DNS-1123 label, got ${JSON.stringify(service)}`);
  const namespace = s('namespace') ?? e('NAMESPACE') ?? defaults.namespace;
  if (!NAME.test(namespace)) throw new Error(`--namespace must be a DNS-1123 label, got ${JSON.stringify(namespace)}`);
  const labels = parseLabels(s('labels') ?? e('LABELS'));
  labels.app ??= service;
  const workload = s('workload') ?? e('WORKLOAD') ?? (labels.version ? `${service}-${labels.version}` : service);
  const serviceAccount = s('serviceAccount') ?? e('SERVICE_ACCOUNT') ?? service;
  const meshKey = meshKeyFromEnv(env);
  const mixerUrl = s('mixer') ?? env.MIXER_URL ?? 'http://127.0.0.1:9091';
  const secure = mixerUrl.startsWith('https:');
  const tokenFile = env.MIXER_BOOTSTRAP_TOKEN_FILE || undefined;
  const token = (env.MIXER_BOOTSTRAP_TOKEN || undefined) ?? (tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined);
  if (!secure && !meshKey) throw new Error('MIXER_MESH_KEY must be set (the same secret on Mixer, every sidecar and the ingress)');
  if (secure && !token && !meshKey)
    throw new Error('with Mixer over https (its CA on) the proxy needs its bootstrap token: MIXER_BOOTSTRAP_TOKEN or MIXER_BOOTSTRAP_TOKEN_FILE');
  return {
    identity: { service, namespace, workload, labels, principal: principalOf(namespace, serviceAccount), instance: `${workload}-${randomHex(4)}` },
    mixerUrl,
    meshKey,
    bootstrapToken: secure ? (token ?? bootstrapToken(meshKey!, namespace, serviceAccount)) : undefined,
    host: s('host') ?? e('HOST') ?? '127.0.0.1',
    outboundPort: int('--outbound-port', s('outboundPort') ?? e('OUTBOUND_PORT'), defaults.outboundPort)!,
    adminPort: int('--admin-port', s('adminPort') ?? e('ADMIN_PORT'), undefined),
    defaultTimeoutMs: int('MIXER_PROXY_TIMEOUT_MS', env.MIXER_PROXY_TIMEOUT_MS, 15_000, 1, 3_600_000)!,
    logLevel: s('logLevel') ?? env.MIXER_LOG_LEVEL ?? 'info',
    reportHeaders: {
      // Set but empty means "none", so the raw variable is read here, not through e().
      redact: parseRedactedHeaders(env[`MIXER_${kind.toUpperCase()}_REDACT_HEADERS`]),
      maxBytes: int(`MIXER_${kind.toUpperCase()}_MAX_HEADER_BYTES`, e('MAX_HEADER_BYTES'), DEFAULT_MAX_HEADER_BYTES, 0, 1 << 20)!,
    },
    maxReportBytes: int(`MIXER_${kind.toUpperCase()}_MAX_REPORT_BYTES`, e('MAX_REPORT_BYTES'), DEFAULT_MAX_BATCH_BYTES, 1024, 64 << 20)!,
  };
}

/** Sidecar options from flags over the environment (see docs/mesh.md for every name). */
export function resolveSidecarOptions(f: Flags, env: NodeJS.ProcessEnv = process.env): SidecarOptions {
  const e = (k: string): string | undefined => env[`MIXER_SIDECAR_${k}`] || undefined;
  const s = (k: string): string | undefined => (typeof f[k] === 'string' ? f[k] : undefined);
  const base = resolveProxyOptions('sidecar', f, env, { namespace: 'default', outboundPort: 15001 });
  const appPort = int('--app-port', s('appPort') ?? e('APP_PORT'), undefined, 1);
  if (appPort === undefined) throw new Error('--app-port (MIXER_SIDECAR_APP_PORT) is required: the port the app listens on');
  return {
    ...base,
    appHost: s('appHost') ?? e('APP_HOST') ?? '127.0.0.1',
    appPort,
    inboundPort: int('--inbound-port', s('inboundPort') ?? e('INBOUND_PORT'), 15006)!,
    outboundHost: s('outboundHost') ?? e('OUTBOUND_HOST') ?? '127.0.0.1',
    address: s('address') ?? e('ADDRESS') ?? '127.0.0.1',
    failOpen: bool(f.failOpen) || bool(e('FAIL_OPEN')),
    checkTimeoutMs: int('MIXER_SIDECAR_CHECK_TIMEOUT_MS', e('CHECK_TIMEOUT_MS'), 1000, 1, 60_000)!,
    permissive: bool(f.permissive) || bool(e('PERMISSIVE')),
  };
}
