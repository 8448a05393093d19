/**
 * What the three gRPC services (and the HTTP ext_authz mode) share with `/v1/check` and
 * `/v1/report`: the same live config, the same `runCheck`, the same report queue. One Check, one
 * Report, several doors: nothing here decides anything on its own.
 */
import { redactBag } from '../../attributes/redact';
import { reportAccepted } from '../../policy/report';
import type { BagValues } from '../../attributes/bag';
import { decodeBag } from '../../attributes/decode';
import type { DecodeLimits } from '../../attributes/decode';
import { MixerError } from '../../base/errors';
import type { ThrottledLog } from '../../base/throttled-log';
import type { SelfMetrics } from '../../metrics/self-metrics';
import { runCheck } from '../../policy/check';
import type { CheckAnswer, QuotaRequest } from '../../policy/check';
import type { ReportQueue } from '../../queue/report-queue';
import type { Vocabulary } from '../../attributes/types';
import type { ConfigStore } from '../../runtime/config-store';

/** Everything a door needs; the same objects the HTTP API is given. */
export interface DoorDeps {
  store: ConfigStore;
  metrics: SelfMetrics;
  log: ThrottledLog;
  queue: ReportQueue;
  limits: DecodeLimits & { maxBodyBytes: number; maxBags: number };
  adapterTimeoutMs: number;
  /** Header names redacted from report bags before they are queued (MIXER_REDACT_HEADERS); default the standard credentials. */
  redact?: ReadonlySet<string>;
}

/** The live vocabulary; throws MIXER_ERR_NOT_READY before the first valid config. */
export function vocabularyOf(deps: Pick<DoorDeps, 'store'>): Vocabulary {
  if (!deps.store.ready) throw new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet');
  return deps.store.current.plan.vocabulary;
}

/** Options of one check. */
export interface DoorCheck {
  quotas?: Record<string, QuotaRequest>;
  dedupId?: string;
}

/**
 * Validates `raw` (attribute name → JSON wire value, owned by the caller) against the manifest and
 * runs the same check as `POST /v1/check`, counting it in the same self-metrics.
 * Throws MixerError for a bad bag (the attribute named).
 */
export function checkAttributes(raw: Record<string, unknown>, deps: DoorDeps, opts: DoorCheck = {}): CheckAnswer | Promise<CheckAnswer> {
  const vocab = vocabularyOf(deps);
  const t0 = performance.now();
  const bag = decodeBag(raw, vocab, deps.limits, 'attributes', true);
  const r = runCheck(deps.store.current, { bag, quotas: opts.quotas, dedupId: opts.dedupId }, { timeoutMs: deps.adapterTimeoutMs, log: deps.log });
  const done = (a: CheckAnswer): CheckAnswer => {
    deps.metrics.checkDuration.observe((performance.now() - t0) / 1000);
    deps.metrics.countCheckResult(a.status.code);
    return a;
  };
  return r instanceof Promise ? r.then(done) : done(r);
}

/** Validates one report bag (`where` prefixes error fields, e.g. `attributes[3]`). */
export function reportBag(raw: Record<string, unknown>, deps: DoorDeps, where: string): BagValues {
  return redactBag(decodeBag(raw, vocabularyOf(deps), deps.limits, where, true).values, deps.redact);
}

/**
 * Enqueues a batch exactly as `POST /v1/report` does: resolves once the queue keeps it; rejects with
 * MIXER_ERR_QUEUE_UNAVAILABLE when it cannot (Redis away). Counted in `mixer_reports_total`.
 * `bytes`: the batch's size on the wire, when known (lets the queue group it with others).
 */
export async function enqueueBags(bags: readonly BagValues[], deps: DoorDeps, bytes?: number): Promise<void> {
  if (bags.length === 0) return;
  try {
    const snapshot = deps.store.current;
    await deps.queue.enqueue(bags, snapshot.reportHandlers, { bytes });
    deps.metrics.reports.inc({ result: 'accepted' }, bags.length);
    reportAccepted(snapshot, bags);
  } catch (err) {
    const code = err instanceof MixerError ? err.code : 'MIXER_ERR_QUEUE_UNAVAILABLE';
    deps.metrics.reports.inc({ result: code === 'MIXER_ERR_QUEUE_UNAVAILABLE' ? 'unavailable' : 'rejected' }, bags.length);
    deps.log.warn(
      'grpc:enqueue',
      { code, bags: bags.length },
      'gRPC report batch not queued; the caller is answered UNAVAILABLE (counted in mixer_reports_total)',
    );
    if (err instanceof MixerError) throw err;
    throw new MixerError('MIXER_ERR_QUEUE_UNAVAILABLE', `report queue unavailable: ${(err as Error)?.message ?? String(err)}`, { cause: err, retryable: true });
  }
}
