import { TrackingReader } from '../attributes/bag';
import type { Bag } from '../attributes/bag';
import type { ReferencedAttribute } from '../attributes/types';
import { MixerError } from '../base/errors';
import { Code } from '../sdk/adapter';
import type { CheckResult, QuotaArgs, QuotaResult, Status } from '../sdk/adapter';
import type { BoundRule, Call, Snapshot } from '../runtime/snapshot';
import { TimeoutError } from '../base/timeout';
import type { ThrottledLog } from '../base/throttled-log';

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
  const message =
    timeout && err instanceof TimeoutError
      ? err.message
      : `handler ${call.handler.ref} ${timeout ? `timed out after ${opts.timeoutMs} ms` : `failed: ${(err as Error)?.message ?? String(err)}`}`;
  opts.log.warn(`check:${call.handler.ref}`, { handler: call.handler.ref, instance: call.instance.ref, err }, message);
  return { status: { code: Code.UNAVAILABLE, message }, validDuration: 0, validUseCount: 0 };
}

/** Counts a valid answer as ok, with its duration since `t0`. */
function settleOk<T>(call: Call, t0: number, v: T): T {
  call.handler.okCount.inc();
  call.handler.duration.observe((performance.now() - t0) / 1000);
  return v;
}

/** The asynchronous tail of a guarded call: its answer, or a failure once `opts.timeoutMs` has passed. */
function raceTimeout<T>(
  call: Call,
  opts: CheckOptions,
  t0: number,
  r: Promise<T>,
  valid: (v: T) => boolean,
  onError: (err: unknown, timeout: boolean) => T,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onError(undefined, true)), opts.timeoutMs);
  });
  const settled = r.then(
    (v) => (valid(v) ? settleOk(call, t0, v) : onError(invalid(v), false)),
    // A handler whose own call timed out (an isolated handler's worker) counts as a timeout too.
    (err: unknown) => onError(err, err instanceof TimeoutError),
  );
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}

const validCheck = (v: CheckResult): boolean => typeof v?.status?.code === 'number';
const validQuota = (v: QuotaResult): boolean => typeof v?.grantedAmount === 'number';

const invalid = (v: unknown): Error => new Error(`returned an invalid answer ${JSON.stringify(v)}`);

function quotaFailed(call: Call, err: unknown, opts: CheckOptions, timeout: boolean): QuotaResult {
  const r = failed(call, err, opts, timeout);
  return { grantedAmount: 0, validDuration: 0, status: r.status };
}

/**
 * One check call under the guard: a throw, a bad answer or a timeout becomes a result. The usual
 * synchronous answer allocates nothing beyond what the adapter returns.
 */
function guardedCheck(call: Call, reader: TrackingReader, opts: CheckOptions): Maybe<CheckResult> {
  const t0 = performance.now();
  let r: Maybe<CheckResult>;
  try {
    r = call.handler.handler.check!(call.instance.build(reader));
  } catch (err) {
    return failed(call, err, opts, false);
  }
  if (!isThenable(r)) return validCheck(r) ? settleOk(call, t0, r) : failed(call, invalid(r), opts, false);
  return raceTimeout(call, opts, t0, r, validCheck, (e, t) => failed(call, e, opts, t));
}

/** A quota call under the guard, as {@link guardedCheck}; a failure grants nothing. */
function guardedQuota(call: Call, reader: TrackingReader, opts: CheckOptions, args: QuotaArgs): Maybe<QuotaResult> {
  const t0 = performance.now();
  let r: Maybe<QuotaResult>;
  try {
    r = call.handler.handler.quota!(call.instance.build(reader), args);
  } catch (err) {
    return quotaFailed(call, err, opts, false);
  }
  if (!isThenable(r)) return validQuota(r) ? settleOk(call, t0, r) : quotaFailed(call, invalid(r), opts, false);
  return raceTimeout(call, opts, t0, r, validQuota, (e, t) => quotaFailed(call, e, opts, t));
}

/**
 * Decides a check (DESIGN.md "Check semantics"): every selected check handler answers; the result
 * is the first non-OK status in rule order, with the smallest validDuration and validUseCount of all
 * answers. Quotas are charged as asked, or 1 for every quota the rules select when none are asked.
 * Returns synchronously when every handler answered synchronously.
 */
export function runCheck(snapshot: Snapshot, req: CheckRequest, opts: CheckOptions): Maybe<CheckAnswer> {
  // The one test the tap and decision logs cost while nobody watches.
  return snapshot.observers.active ? decide(snapshot, req, opts, { t0: performance.now(), quotaCalls: [] }) : decide(snapshot, req, opts, undefined);
}

/** Set while a tap or decision handler watches: what the decision needs to be told about. */
interface Watch {
  readonly t0: number;
  readonly quotaCalls: Call[];
}

function decide(snapshot: Snapshot, req: CheckRequest, opts: CheckOptions, watch: Watch | undefined): Maybe<CheckAnswer> {
  const asked = req.quotas;
  let askedByRef: Map<string, { name: string; req: QuotaRequest }> | undefined;
  if (asked) {
    askedByRef = new Map();
    for (const name of Object.keys(asked)) {
      const inst = snapshot.quotaInstances.get(name);
      if (inst === undefined) {
        throw new MixerError('MIXER_ERR_UNKNOWN_QUOTA', `unknown quota ${JSON.stringify(name)}: no quota instance has that name`, {
          details: [{ field: `quotas.${name}`, reason: 'no quota instance with this name' }],
        });
      }
      askedByRef.set(inst.ref, { name, req: asked[name] });
    }
  }
  const reader = new TrackingReader(req.bag);
  const rules = snapshot.checkRules.select(reader);
  const checks: Array<Maybe<CheckResult>> = [];
  let quotaNames: string[] | undefined;
  let quotas: Array<Maybe<QuotaResult>> | undefined;
  // (handler, instance) pairs already charged: a handful per check, so two lists beat a set of joined keys.
  let chargedHandlers: string[] | undefined;
  let chargedInstances: string[] | undefined;
  let pending = false;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    for (let j = 0; j < rule.checks.length; j++) {
      const r = guardedCheck(rule.checks[j], reader, opts);
      if (!pending && isThenable(r)) pending = true;
      checks.push(r);
    }
    for (let j = 0; j < rule.quotas.length; j++) {
      const call = rule.quotas[j];
      const want = askedByRef ? askedByRef.get(call.instance.ref) : undefined;
      if ((askedByRef && !want) || wasCharged(chargedHandlers, chargedInstances, call)) continue;
      (chargedHandlers ??= []).push(call.handler.ref);
      (chargedInstances ??= []).push(call.instance.ref);
      // Without `quotas` in the request every selected quota is charged 1.
      const args = want
        ? { amount: want.req.amount, bestEffort: want.req.bestEffort ?? false, dedupId: req.dedupId ?? '' }
        : { amount: 1, bestEffort: false, dedupId: req.dedupId ?? '' };
      (quotaNames ??= []).push(want ? want.name : displayName(call.instance.ref));
      if (watch !== undefined) watch.quotaCalls.push(call);
      const r = guardedQuota(call, reader, opts, args);
      if (!pending && isThenable(r)) pending = true;
      (quotas ??= []).push(r);
    }
  }
  const names = quotaNames ?? NONE;
  if (pending) {
    // `checks` and `quotas` mix answers and promises of answers: Promise.all takes both.
    // eslint-disable-next-line @typescript-eslint/await-thenable
    return Promise.all([Promise.all(checks), Promise.all(quotas ?? [])]).then(([c, q]) => {
      const a = combine(snapshot, req, reader, c, names, q);
      if (watch !== undefined) observe(snapshot, req, rules, watch, c, q, a);
      return a;
    });
  }
  const answer = combine(snapshot, req, reader, checks as CheckResult[], names, (quotas ?? NONE) as QuotaResult[]);
  if (watch !== undefined) observe(snapshot, req, rules, watch, checks as CheckResult[], (quotas ?? NONE) as QuotaResult[], answer);
  return answer;
}

/** Tells the taps and decision handlers about a decision; never throws into the check. */
function observe(
  snapshot: Snapshot,
  req: CheckRequest,
  rules: readonly BoundRule[],
  watch: Watch,
  checks: CheckResult[],
  quotas: QuotaResult[],
  a: CheckAnswer,
): void {
  try {
    const obs = snapshot.observers;
    // Idle taps (no match) and taps over their rate stop here: no record is built for them.
    const taps = obs.admitCheck(req.bag, a.status.code);
    if (taps === undefined && snapshot.decisionHandlers.length === 0) return;
    obs.checked(
      {
        bag: req.bag,
        rules,
        checks,
        quotaCalls: watch.quotaCalls ?? NONE,
        quotas,
        status: a.status,
        referenced: a.referencedAttributes,
        validDuration: a.validDuration,
        validUseCount: a.validUseCount,
        configGeneration: a.configGeneration,
        durationMs: performance.now() - watch.t0,
      },
      snapshot.decisionHandlers,
      taps,
    );
  } catch {
    // A bug in a tap must not fail the check it watches; the answer stands.
  }
}

const NONE: never[] = [];

function wasCharged(handlers: string[] | undefined, instances: string[] | undefined, call: Call): boolean {
  if (handlers === undefined || instances === undefined) return false;
  for (let i = 0; i < handlers.length; i++) if (handlers[i] === call.handler.ref && instances[i] === call.instance.ref) return true;
  return false;
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
      if (!status && short)
        status = { code: Code.RESOURCE_EXHAUSTED, message: `quota ${name} exhausted: asked ${want?.amount ?? 1}, granted ${q.grantedAmount}` };
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
