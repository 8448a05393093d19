import { TrackingReader } from '../attributes/bag';
import type { Bag } from '../attributes/bag';
import type { ReferencedAttribute } from '../attributes/types';
import { MixerError } from '../errors';
import { Code } from '../sdk/adapter';
import type { CheckResult, QuotaResult, Status } from '../sdk/adapter';
import type { Call, Snapshot } from '../runtime/snapshot';
import type { ThrottledLog } from '../runtime/throttled-log';

/** Defaults of a check answer when no handler says otherwise. */
export const DEFAULT_VALID_DURATION_MS = 60_000;
export const DEFAULT_VALID_USE_COUNT = 10_000;

export interface QuotaRequest {
  amount: number;
  bestEffort?: boolean;
}

export interface CheckRequest {
  bag: Bag;
  /** Quota instance name → amount. Absent: every quota the rules select is charged 1. */
  quotas?: Readonly<Record<string, QuotaRequest>>;
  dedupId?: string;
}

export interface QuotaAnswer {
  grantedAmount: number;
  /** ms */
  validDuration: number;
}

export interface CheckAnswer {
  status: Status;
  /** ms */
  validDuration: number;
  validUseCount: number;
  referencedAttributes: ReferencedAttribute[];
  quotas?: Record<string, QuotaAnswer>;
  configGeneration: number;
}

export interface CheckOptions {
  /** Longest an async handler may take, ms; past it the handler answers UNAVAILABLE. */
  timeoutMs: number;
  log: ThrottledLog;
}

type Maybe<T> = T | Promise<T>;

function isThenable<T>(v: Maybe<T>): v is Promise<T> {
  return typeof (v as { then?: unknown })?.then === 'function';
}

function failed(call: Call, err: unknown, opts: CheckOptions, timeout: boolean): CheckResult {
  (timeout ? call.handler.timeoutCount : call.handler.errorCount).inc();
  const message = `handler ${call.handler.ref} ${timeout ? `timed out after ${opts.timeoutMs} ms` : `failed: ${(err as Error)?.message ?? String(err)}`}`;
  opts.log.warn(`check:${call.handler.ref}`, { handler: call.handler.ref, instance: call.instance.ref, err }, message);
  return { status: { code: Code.UNAVAILABLE, message }, validDuration: 0, validUseCount: 0 };
}

/** Runs one adapter call under the guard: a throw, a bad answer or a timeout becomes a result. */
function guarded<T>(call: Call, opts: CheckOptions, run: () => Maybe<T>, valid: (v: T) => boolean, onError: (err: unknown, timeout: boolean) => T): Maybe<T> {
  const t0 = performance.now();
  const done = (v: T): T => {
    if (!valid(v)) return onError(new Error(`returned an invalid answer ${JSON.stringify(v)}`), false);
    call.handler.okCount.inc();
    call.handler.duration.observe((performance.now() - t0) / 1000);
    return v;
  };
  let r: Maybe<T>;
  try {
    r = run();
  } catch (err) {
    return onError(err, false);
  }
  if (!isThenable(r)) return done(r);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onError(undefined, true)), opts.timeoutMs);
  });
  const settled = r.then(done, (err: unknown) => onError(err, false));
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}

const validCheck = (v: CheckResult): boolean => typeof v?.status?.code === 'number';
const validQuota = (v: QuotaResult): boolean => typeof v?.grantedAmount === 'number';

/**
 * Decides a check (DESIGN.md "Check semantics"): every selected check handler answers; the result
 * is the first non-OK status in rule order, with the smallest validDuration and validUseCount of all
 * answers. Quotas are charged as asked, or 1 for every quota the rules select when none are asked.
 * Returns synchronously when every handler answered synchronously.
 */
export function runCheck(snapshot: Snapshot, req: CheckRequest, opts: CheckOptions): Maybe<CheckAnswer> {
  if (req.quotas) {
    for (const name of Object.keys(req.quotas)) {
      if (!snapshot.quotaInstances.has(name)) {
        throw new MixerError('MIXER_ERR_UNKNOWN_QUOTA', `unknown quota ${JSON.stringify(name)}: no quota instance has that name`, {
          details: [{ field: `quotas.${name}`, reason: 'no quota instance with this name' }],
        });
      }
    }
  }
  const reader = new TrackingReader(req.bag);
  const rules = snapshot.checkRules.select(reader);
  const checks: Array<Maybe<CheckResult>> = [];
  const quotaNames: string[] = [];
  const quotas: Array<Maybe<QuotaResult>> = [];
  const asked = new Map<string, { name: string; req: QuotaRequest }>();
  if (req.quotas) for (const [name, q] of Object.entries(req.quotas)) asked.set(snapshot.quotaInstances.get(name)!.ref, { name, req: q });
  const charged = new Set<string>();
  for (const rule of rules) {
    for (const call of rule.checks) {
      checks.push(guarded(call, opts, () => call.handler.handler.check!(call.instance.build(reader)), validCheck, (e, t) => failed(call, e, opts, t)));
    }
    for (const call of rule.quotas) {
      const want = req.quotas ? asked.get(call.instance.ref) : { name: displayName(call.instance.ref), req: { amount: 1 } };
      const once = `${call.handler.ref}|${call.instance.ref}`;
      if (!want || charged.has(once)) continue;
      charged.add(once);
      const args = { amount: want.req.amount, bestEffort: want.req.bestEffort ?? false, dedupId: req.dedupId ?? '' };
      quotaNames.push(want.name);
      quotas.push(
        guarded(call, opts, () => call.handler.handler.quota!(call.instance.build(reader), args), validQuota, (e, t) => {
          const r = failed(call, e, opts, t);
          return { grantedAmount: 0, validDuration: 0, status: r.status };
        }),
      );
    }
  }
  const finish = (cr: CheckResult[], qr: QuotaResult[]): CheckAnswer => combine(snapshot, req, reader, cr, quotaNames, qr);
  if (checks.some(isThenable) || quotas.some(isThenable)) {
    return Promise.all([Promise.all(checks), Promise.all(quotas)]).then(([c, q]) => finish(c, q));
  }
  return finish(checks as CheckResult[], quotas as QuotaResult[]);
}

function displayName(ref: string): string {
  return ref.startsWith('default/') ? ref.slice('default/'.length) : ref;
}

function combine(snapshot: Snapshot, req: CheckRequest, reader: TrackingReader, checks: CheckResult[], names: string[], quotas: QuotaResult[]): CheckAnswer {
  let status: Status | undefined;
  let validDuration = DEFAULT_VALID_DURATION_MS;
  let validUseCount = DEFAULT_VALID_USE_COUNT;
  for (const r of checks) {
    if (r.status.code !== Code.OK && !status) status = r.status;
    if (r.validDuration !== undefined && r.validDuration < validDuration) validDuration = r.validDuration;
    if (r.validUseCount !== undefined && r.validUseCount < validUseCount) validUseCount = r.validUseCount;
  }
  let quotaOut: Record<string, QuotaAnswer> | undefined;
  if (req.quotas || names.length > 0) {
    // A quota asked for but selected by no rule is granted in full: no limit applies to it.
    quotaOut = {};
    if (req.quotas) for (const [name, q] of Object.entries(req.quotas)) quotaOut[name] = { grantedAmount: q.amount, validDuration: DEFAULT_VALID_DURATION_MS };
    names.forEach((name, i) => {
      const r = quotas[i];
      const cur = quotaOut![name] ?? { grantedAmount: 1, validDuration: DEFAULT_VALID_DURATION_MS };
      quotaOut![name] = { grantedAmount: Math.min(cur.grantedAmount, r.grantedAmount), validDuration: Math.min(cur.validDuration, r.validDuration) };
      if (!status && r.status && r.status.code !== Code.OK) status = r.status;
    });
    for (const [name, q] of Object.entries(quotaOut)) {
      const want = req.quotas?.[name];
      const short = want ? (want.bestEffort ? q.grantedAmount === 0 : q.grantedAmount < want.amount) : q.grantedAmount < 1;
      if (!status && short) status = { code: Code.RESOURCE_EXHAUSTED, message: `quota ${name} exhausted: asked ${want?.amount ?? 1}, granted ${q.grantedAmount}` };
    }
    // A verdict that charged a quota covers only the request that paid for it.
    if (names.length > 0) validUseCount = Math.min(validUseCount, 1);
  }
  const answer: CheckAnswer = {
    status: status ?? { code: Code.OK, message: '' },
    validDuration,
    validUseCount,
    referencedAttributes: reader.referenced(),
    configGeneration: snapshot.generation,
  };
  if (quotaOut) answer.quotas = quotaOut;
  return answer;
}
