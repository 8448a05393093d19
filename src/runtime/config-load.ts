/**
 * One config load, in three steps the config store runs for every reload and API change: gather the
 * candidate (the files plus the API objects, with a change applied), compile it, and record the outcome
 * (status, metrics, one log line).
 */
import type { Logger } from 'pino';
import type { AdapterFactory } from '../sdk/adapter';
import type { ErrorDetail } from '../base/errors';
import { MixerError } from '../base/errors';
import { loadConfigDir } from '../config/load';
import { compileConfig } from '../config/compile';
import type { ConfigPlan } from '../config/compile';
import type { ConfigObject } from '../config/source';
import { applyToRecords, mergeObjects, parseApiRecords } from '../config/api-store';
import type { ApiObjects, ApiRead, ApiStatus, ConfigChange, ShadowedObject } from '../config/api-store';
import { adaptersForConfig } from '../plugins/loader';
import type { SelfMetrics } from '../metrics/self-metrics';
import type { Snapshot } from './snapshot';

/** Where a load reads the config from. */
export interface LoadSources {
  dir: string;
  /** Built-in adapters by name. */
  adapters: ReadonlyMap<string, AdapterFactory>;
  /**
   * Finds adapters that are not built in (operator plugins), by the names Handlers use; called on
   * every load before validation. Unset: only built-ins exist.
   */
  resolveAdapters?: (names: readonly string[]) => Promise<{ adapters: ReadonlyMap<string, AdapterFactory>; errors: ErrorDetail[] }>;
  env?: NodeJS.ProcessEnv;
}

/** One candidate config: files plus API objects (with a change applied), before compiling. */
export interface Candidate {
  objects: ConfigObject[];
  errors: ErrorDetail[];
  shadowed: ShadowedObject[];
  /** Undefined without an API store. */
  api?: ApiRead;
  /** Whether the changed key was in the API store before the change. */
  existed: boolean;
}

/** The outcome of the last load, as shown by `GET /v1/config/status`. */
export interface ReloadStatus {
  generation: number;
  /** Generations compare within one epoch: shared by replicas using one Redis, else per process. */
  epoch: string | null;
  lastReload: { at: string; ok: boolean; reason: string; durationMs: number; errors: readonly ErrorDetail[] } | null;
  lastSuccess: string | null;
  /** Present when the process has a config API store. */
  api?: ApiStatus;
}

/**
 * Reads the files and the API objects (the last ones read, when the store cannot be read) and applies
 * `change`. With a change, throws MIXER_ERR_API_DISABLED without `api` and
 * MIXER_ERR_CONFIG_STORE_UNAVAILABLE when the store cannot be read now.
 */
export async function gatherCandidate(src: LoadSources, api: ApiObjects | undefined, change?: ConfigChange): Promise<Candidate> {
  const env = src.env ?? process.env;
  const loaded = await loadConfigDir(src.dir, env);
  const read = await api?.read();
  let existed = false;
  if (change) {
    if (!read) throw new MixerError('MIXER_ERR_API_DISABLED', 'this process has no config API store');
    if (read.error)
      throw new MixerError('MIXER_ERR_CONFIG_STORE_UNAVAILABLE', `the config API store cannot be read now, so nothing was changed: ${read.error}`, {
        retryable: true,
      });
    existed = applyToRecords(read.records, loaded.objects, change);
  }
  const parsed = parseApiRecords(read?.records.values() ?? []);
  const { objects, shadowed } = mergeObjects(loaded.objects, parsed.objects);
  return { objects, errors: [...loaded.errors, ...parsed.errors], shadowed, api: read, existed };
}

/** Resolves adapters (built-ins, plus the plugins the Handlers name) and compiles a candidate: every problem, or the plan. */
export async function compileCandidate(src: LoadSources, cand: Candidate): Promise<{ plan?: ConfigPlan; errors: ErrorDetail[] }> {
  const errors = [...cand.errors];
  const adapters = await adaptersForConfig(cand.objects, src.adapters, src.resolveAdapters, errors);
  const compiled = compileConfig(cand.objects, adapters);
  errors.push(...compiled.errors);
  return { plan: errors.length === 0 ? compiled.plan : undefined, errors };
}

/**
 * Records one load (`errors` empty: it went live) in `status`, `mixer_config_reloads_total` and the
 * log. `live` is the snapshot serving after it, `t0` the `performance.now()` at its start.
 */
export function recordLoad(
  status: ReloadStatus,
  deps: { metrics: SelfMetrics; logger: Logger },
  live: { generation: number; snapshot: Snapshot | undefined },
  reason: string,
  errors: ErrorDetail[],
  t0: number,
): void {
  const { metrics, logger } = deps;
  const ok = errors.length === 0;
  const durationMs = Math.round((performance.now() - t0) * 10) / 10;
  status.lastReload = { at: new Date().toISOString(), ok, reason, durationMs, errors };
  metrics.configReloads.inc({ result: ok ? 'ok' : 'failed' });
  if (ok) {
    status.lastSuccess = status.lastReload.at;
    logger.info({ generation: live.generation, reason, durationMs, rules: live.snapshot?.plan.rules.length }, 'config loaded');
  } else {
    logger.error(
      { reason, errors, servingGeneration: live.snapshot?.generation ?? null },
      `config rejected: ${errors.length} problem(s); ${live.snapshot ? 'the last good config keeps serving' : 'no config to serve'}`,
    );
  }
}
