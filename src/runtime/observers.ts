import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Bag } from '../attributes/bag';
import type { BagValues } from '../attributes/bag';
import type { AttributeReader } from '../attributes/types';
import { redactBag } from '../attributes/redact';
import type { ThrottledLog } from '../base/throttled-log';
import type { DecisionRecord } from '../sdk/decision';
import { buildDecisionRecord } from './decision-record';
import type { CheckTrail } from './decision-record';
import type { HandlerRuntime } from './handler-runtime';

/** A tap's compiled filter (see src/tap/filter.ts): `code` is the check's status code, undefined for a report. */
export interface TapMatcher {
  matches(kind: 'check' | 'report', bag: AttributeReader, code: number | undefined): boolean;
}

/** Where tapped events go: a local tap session, or another replica's tap through Redis. */
export interface TapSink {
  readonly filter: TapMatcher;
  /**
   * An event matched the filter: true when the sink takes it (within its rate), false when it is
   * refused (the sink counts it as dropped). Asked before the event is built, so refused events cost
   * nothing more.
   */
  admit(): boolean;
  /** An admitted event: its kind and its JSON text (built once, shared by every sink). */
  send(kind: 'check' | 'report', json: string): void;
}

/** This process's name in tap events: host, pid and a random tag (unique across restarts). */
export function replicaName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
}

/**
 * Watches checks and reports for the live tap and the decision-log handlers. `active` is the one flag
 * the hot paths test: false while no tap is open (here or, through the relay, on another replica) and
 * the live config has no handler with the `decisions` capability; then nothing else runs.
 */
export class ObserverHub {
  /** True while some tap or decision handler wants events. Read on every check and report. */
  active = false;
  private readonly sinks = new Set<TapSink>();
  private decisionHandlers = 0;

  constructor(
    /** Name of this replica in events. */
    readonly replica: string = replicaName(),
    private readonly log?: ThrottledLog,
  ) {}

  /** Adds a sink; returns its removal (safe twice). */
  addSink(sink: TapSink): () => void {
    this.sinks.add(sink);
    this.update();
    return () => {
      this.sinks.delete(sink);
      this.update();
    };
  }

  /** How many sinks are attached (local taps and remote relays). */
  get sinkCount(): number {
    return this.sinks.size;
  }

  /** Called by the config store with the live snapshot's number of decision handlers. */
  setDecisionHandlers(n: number): void {
    this.decisionHandlers = n;
    this.update();
  }

  private update(): void {
    this.active = this.sinks.size > 0 || this.decisionHandlers > 0;
  }

  /**
   * A check was decided (called only while {@link active}): builds its record when a decision handler
   * or a matching tap wants it, hands it to each decision handler (guarded: a throw is counted, never
   * felt by the check) and to each matching tap.
   */
  /**
   * The taps that take a check with this bag and code (each admitted one has counted it against its
   * rate; refused ones have counted a drop), or undefined when none does.
   */
  admitCheck(bag: AttributeReader, code: number): TapSink[] | undefined {
    let out: TapSink[] | undefined;
    for (const s of this.sinks) if (s.filter.matches('check', bag, code) && s.admit()) (out ??= []).push(s);
    return out;
  }

  /**
   * A check was decided, and some decision handler or admitted tap (see {@link admitCheck}) wants it:
   * builds its record once, hands it to each decision handler (guarded: a throw is counted, never felt
   * by the check) and to each tap.
   */
  checked(trail: CheckTrail, decisionHandlers: readonly HandlerRuntime[], taps: readonly TapSink[] | undefined): void {
    const record = buildDecisionRecord(trail);
    for (const h of decisionHandlers) this.deliver(h, record);
    if (taps === undefined) return;
    // `attributes` is a getter of the record (not copied by a spread): the tap shows the whole bag.
    const json = JSON.stringify({ kind: 'check', replica: this.replica, ...record, attributes: record.attributes });
    for (const s of taps) s.send('check', json);
  }

  private deliver(h: HandlerRuntime, record: DecisionRecord): void {
    try {
      h.handler.decision!(record);
    } catch (err) {
      h.errorCount.inc();
      this.log?.warn(`decision:${h.ref}`, { handler: h.ref, err }, `handler ${h.ref} failed to take a decision record`);
    }
  }

  /** Report bags were accepted (called only while {@link active}): each bag matching a tap goes to it. */
  reported(bags: readonly BagValues[], configGeneration: number): void {
    if (this.sinks.size === 0) return;
    const time = new Date().toISOString();
    for (const values of bags) {
      const bag = Bag.trusted(values);
      let json: string | undefined;
      for (const s of this.sinks) {
        if (!s.filter.matches('report', bag, undefined) || !s.admit()) continue;
        json ??= JSON.stringify({ kind: 'report', replica: this.replica, time, attributes: redactBag(values), configGeneration });
        s.send('report', json);
      }
    }
  }
}
