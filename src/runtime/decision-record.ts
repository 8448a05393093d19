import { randomUUID } from 'node:crypto';
import type { Bag } from '../attributes/bag';
import { HEADER_ATTRIBUTES, REDACTED_VALUE, isCredentialHeader, redactBag, redactHeaders } from '../attributes/redact';
import type { ReferencedAttribute } from '../attributes/types';
import type { CheckResult, QuotaResult, Status } from '../sdk/adapter';
import type { CallerIdentity, DecisionCall, DecisionRecord, DestinationIdentity, ReferencedValue } from '../sdk/decision';

/** A handler call as the trail needs it (a snapshot's `Call`). */
export interface TrailCall {
  readonly handler: { readonly ref: string };
  readonly instance: { readonly ref: string };
}

/** A matched rule as the trail needs it (a snapshot's `BoundRule`). */
export interface TrailRule {
  readonly ref: string;
  readonly checks: readonly TrailCall[];
  readonly quotas: readonly TrailCall[];
}

/** What a finished check leaves behind, as `runCheck` gathered it (answers in call order). */
export interface CheckTrail {
  readonly bag: Bag;
  readonly rules: readonly TrailRule[];
  readonly checks: readonly CheckResult[];
  /** The quota calls made, in order, with their answers. */
  readonly quotaCalls: readonly TrailCall[];
  readonly quotas: readonly QuotaResult[];
  readonly status: Status;
  readonly referenced: readonly ReferencedAttribute[];
  readonly validDuration: number;
  readonly validUseCount: number;
  readonly configGeneration: number;
  readonly durationMs: number;
}

const HEADERS = new Set(HEADER_ATTRIBUTES);

/** The second {@link isoNow} last formatted, and its text up to the ms (`2024-05-01T22:58:44.`). */
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * `new Date().toISOString()`, with the date and time to the second formatted once a second: a record
 * is made per check, and a Date and its formatting cost more than the rest of the record's fields.
 */
export function isoNow(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString();
    // Years 0-9999 only (`+275760-...` has a longer prefix): beyond them, no cache.
    if (iso.length !== 24) return new Date(now).toISOString();
    isoSecond = second;
    isoPrefix = iso.slice(0, 20);
  }
  const ms = now - second * 1000;
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

function referencedValue(bag: Bag, r: ReferencedAttribute): ReferencedValue {
  if (r.condition === 'ABSENCE') return r;
  if (r.key !== undefined) {
    const v = bag.getKey(r.name, r.key);
    return { ...r, value: HEADERS.has(r.name) && isCredentialHeader(r.key) ? REDACTED_VALUE : v };
  }
  const v = bag.get(r.name);
  return { ...r, value: HEADERS.has(r.name) && typeof v === 'object' ? redactHeaders(v) : v };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Who called, from `source.*` (absent attributes are left out). */
export function callerOf(bag: Bag): CallerIdentity {
  const out: Record<string, string> = {};
  const put = (k: string, v: string | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  put('principal', str(bag.get('source.principal')));
  put('workload', str(bag.get('source.workload.name')));
  put('namespace', str(bag.get('source.workload.namespace')) ?? str(bag.get('source.namespace')));
  put('app', bag.getKey('source.labels', 'app'));
  put('ip', str(bag.get('source.ip')));
  return out;
}

/** What was called, from `destination.*` (absent attributes are left out). */
export function destinationOf(bag: Bag): DestinationIdentity {
  const out: Record<string, string> = {};
  const service = str(bag.get('destination.service.name')) ?? str(bag.get('destination.service.host'));
  if (service !== undefined) out.service = service;
  const workload = str(bag.get('destination.workload.name'));
  if (workload !== undefined) out.workload = workload;
  const namespace = str(bag.get('destination.workload.namespace')) ?? str(bag.get('destination.service.namespace')) ?? str(bag.get('destination.namespace'));
  if (namespace !== undefined) out.namespace = namespace;
  return out;
}

/**
 * A {@link DecisionRecord} as the runtime makes it: every field an own property, but `attributes`, a
 * getter of the class that redacts the bag when first read (private fields stay writable in a frozen
 * object). One class for every record, so every record has the same hidden class: a getter written
 * in each record's object literal gave every record its own (a map and descriptors per check, promoted
 * to the old generation: the decision log cost a check ~1.7x its CPU until the next full GC).
 */
class CheckDecision implements DecisionRecord {
  readonly #bag: Bag;
  #attributes: DecisionRecord['attributes'] | undefined;

  constructor(
    bag: Bag,
    readonly decisionId: string,
    readonly time: string,
    readonly status: Status,
    readonly rules: readonly string[],
    readonly calls: readonly DecisionCall[],
    // Always set, also when undefined (one object shape): JSON leaves an undefined decidedBy out.
    readonly decidedBy: DecisionRecord['decidedBy'],
    readonly referenced: readonly ReferencedValue[],
    readonly caller: CallerIdentity,
    readonly destination: DestinationIdentity,
    readonly configGeneration: number,
    readonly durationMs: number,
    readonly validDuration: number,
    readonly validUseCount: number,
  ) {
    this.#bag = bag;
  }

  get attributes(): DecisionRecord['attributes'] {
    return (this.#attributes ??= redactBag(this.#bag.values));
  }
}

/**
 * The frozen {@link DecisionRecord} of a finished check: every call paired with its answer in rule
 * order, the call that decided, the referenced attributes with their values, credential headers masked.
 */
export function buildDecisionRecord(t: CheckTrail): DecisionRecord {
  const calls: DecisionCall[] = [];
  let decidedBy: DecisionRecord['decidedBy'];
  let k = 0;
  for (const rule of t.rules) {
    for (const call of rule.checks) {
      const r = t.checks[k++];
      calls.push({ rule: rule.ref, handler: call.handler.ref, instance: call.instance.ref, kind: 'check', status: r.status });
      if (decidedBy === undefined && r.status === t.status) decidedBy = { rule: rule.ref, handler: call.handler.ref, instance: call.instance.ref };
    }
  }
  for (let i = 0; i < t.quotaCalls.length; i++) {
    const call = t.quotaCalls[i];
    const q = t.quotas[i];
    const rule = t.rules.find((r) => r.quotas.includes(call))?.ref ?? '';
    calls.push({
      rule,
      handler: call.handler.ref,
      instance: call.instance.ref,
      kind: 'quota',
      status: q.status ?? { code: 0 },
      grantedAmount: q.grantedAmount,
    });
    if (decidedBy === undefined && q.status === t.status) decidedBy = { rule, handler: call.handler.ref, instance: call.instance.ref };
  }
  const bag = t.bag;
  return Object.freeze(
    new CheckDecision(
      bag,
      randomUUID(),
      isoNow(),
      { code: t.status.code, message: t.status.message ?? '' },
      t.rules.map((r) => r.ref),
      calls,
      decidedBy,
      t.referenced.map((r) => referencedValue(bag, r)),
      callerOf(bag),
      destinationOf(bag),
      t.configGeneration,
      Math.round(t.durationMs * 1000) / 1000,
      t.validDuration,
      t.validUseCount,
    ),
  );
}
