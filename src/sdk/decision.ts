import type { AttributeValue, ReferenceCondition } from '../attributes/types';

/** A google.rpc status (the same shape as the SDK's `Status`). */
interface Status {
  readonly code: number;
  readonly message?: string;
}

/** Capabilities an adapter may declare besides its templates. */
export const ADAPTER_CAPABILITIES = ['decisions'] as const;
/** `decisions`: its handlers implement {@link DecisionHandlerMethod} and receive every check decision. */
export type AdapterCapability = (typeof ADAPTER_CAPABILITIES)[number];

/** One handler call behind a check decision, in rule order. */
export interface DecisionCall {
  /** The rule that selected the call, `namespace/name`. */
  readonly rule: string;
  /** Handler, `namespace/name`. */
  readonly handler: string;
  /** Instance, `namespace/name`. */
  readonly instance: string;
  /** `check` or `quota`. */
  readonly kind: 'check' | 'quota';
  /** What the handler answered (a failed or timed-out call answers UNAVAILABLE). */
  readonly status: Status;
  /** Quota calls: the amount granted. */
  readonly grantedAmount?: number;
}

/** An attribute (or one key of a map) the decision read, with the value it found. */
export interface ReferencedValue {
  readonly name: string;
  readonly key?: string;
  readonly condition: ReferenceCondition;
  /** Absent for an ABSENCE reference. */
  readonly value?: AttributeValue;
}

/** Who asked, from the `source.*` attributes of the bag (absent ones are left out). */
export interface CallerIdentity {
  readonly principal?: string;
  readonly workload?: string;
  readonly namespace?: string;
  readonly app?: string;
  readonly ip?: string;
}

/** What was called, from the `destination.*` attributes of the bag (absent ones are left out). */
export interface DestinationIdentity {
  /** `destination.service.name`, else `destination.service.host`. */
  readonly service?: string;
  readonly workload?: string;
  readonly namespace?: string;
}

/**
 * A finished check decision, as the runtime hands it to `decision()` of handlers whose adapter declares
 * the `decisions` capability, and as the live tap shows it. Frozen and shared: never change it.
 * Credential headers (see DEFAULT_REDACTED_HEADERS) are already masked in `attributes` and `referenced`.
 */
export interface DecisionRecord {
  /** Unique id of this decision (a UUID). */
  readonly decisionId: string;
  /** When the decision was made, RFC 3339 with ms. */
  readonly time: string;
  /** The verdict, as answered to the caller. */
  readonly status: Status;
  /** Rules whose match selected the check, `namespace/name`, in evaluation order. */
  readonly rules: readonly string[];
  /** Every handler call, in rule order. */
  readonly calls: readonly DecisionCall[];
  /** The call whose non-OK answer became the verdict (undefined when the verdict is OK or a quota ran short without one). */
  readonly decidedBy?: { readonly rule: string; readonly handler: string; readonly instance: string };
  /** What the decision read, with values. */
  readonly referenced: readonly ReferencedValue[];
  /**
   * The whole bag as decoded (credential headers masked). Made when first read, so leave it unread when
   * not needed; it is a getter, not an own property, so `JSON.stringify(record)` and `{ ...record }` leave
   * the bag out: name it to keep it (`{ ...record, attributes: record.attributes }`).
   */
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly caller: CallerIdentity;
  readonly destination: DestinationIdentity;
  readonly configGeneration: number;
  /** How long the decision took, ms. */
  readonly durationMs: number;
  /** How long the verdict may be cached, ms, and for how many uses. */
  readonly validDuration: number;
  readonly validUseCount: number;
}

/**
 * `Handler.decision`: receives every check decision while the handler is live. Called synchronously
 * after the answer is known and before it is sent: it must not block (keep a bounded buffer, count
 * what overflows) and must not throw (a throw is counted as a handler error and ignored). The verdict
 * is already decided; nothing it does changes it.
 */
export type DecisionHandlerMethod = (record: DecisionRecord) => void;
