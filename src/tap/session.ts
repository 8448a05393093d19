import type { TapSink } from '../runtime/observers';
import type { TapFilter } from './filter';

/** Writes one chunk of the event stream; false when the reader is too far behind (the event is dropped). */
export type TapWrite = (chunk: string) => boolean;

/**
 * A fixed one-second window rate limit with a count of what it refused. Shared by local taps and the
 * relays that forward events to another replica's tap.
 */
export class RateWindow {
  private windowStart = 0;
  private sent = 0;
  /** Refused since the last {@link takeDropped}. */
  private dropped = 0;

  constructor(readonly perSecond: number) {}

  /** True when one more event fits in the current second; otherwise counts it as dropped. */
  admit(now: number = Date.now()): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.sent = 0;
    }
    if (this.sent >= this.perSecond) {
      this.dropped++;
      return false;
    }
    this.sent++;
    return true;
  }

  addDropped(n: number): void {
    this.dropped += n;
  }

  /** The drops counted since the last call, and resets them. */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }
}

/** Counts what a tap did, for `mixer_tap_events_total`. */
export interface TapCounters {
  sent(kind: 'check' | 'report'): void;
  dropped(n: number): void;
}

/**
 * One open tap: events matching its filter, at most `rate` a second, as Server-Sent Events
 * (`event: check|report`, `data: <json>`); once a second, when some were refused (over the rate,
 * or the reader too slow), `event: dropped` with `{"dropped": n}`. {@link tick} must be called every
 * second by the owner.
 */
export class TapSession implements TapSink {
  private readonly limit: RateWindow;
  private closed = false;

  constructor(
    readonly id: string,
    readonly filter: TapFilter,
    rate: number,
    private readonly write: TapWrite,
    private readonly counters: TapCounters,
  ) {
    this.limit = new RateWindow(rate);
  }

  get rate(): number {
    return this.limit.perSecond;
  }

  admit(): boolean {
    return !this.closed && this.limit.admit();
  }

  send(kind: 'check' | 'report', json: string): void {
    if (this.closed) return;
    if (this.write(`event: ${kind}\ndata: ${json}\n\n`)) this.counters.sent(kind);
    else this.limit.addDropped(1);
  }

  /** An event forwarded by another replica (already within that replica's share): admitted, then sent. */
  offer(kind: 'check' | 'report', json: string): void {
    if (this.admit()) this.send(kind, json);
  }

  /** Events another replica refused for this tap (its own share of the rate). */
  addDropped(n: number): void {
    if (!this.closed && n > 0) this.limit.addDropped(n);
  }

  /** Once a second: reports the drops counted since the last tick, if any. */
  tick(): void {
    if (this.closed) return;
    const n = this.limit.takeDropped();
    if (n === 0) return;
    this.counters.dropped(n);
    this.write(`event: dropped\ndata: {"dropped":${n},"time":${JSON.stringify(new Date().toISOString())}}\n\n`);
  }

  close(): void {
    this.closed = true;
  }
}
