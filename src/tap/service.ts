import { randomUUID } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Vocabulary } from '../attributes/types';
import { MixerError } from '../base/errors';
import type { ObserverHub } from '../runtime/observers';
import { compileTapFilter, parseTapQuery } from './filter';
import { TapSession } from './session';
import type { TapWrite } from './session';
import type { TapRelay } from './relay';

/** Tap limits: MIXER_TAP_MAX (taps open at once on one replica) and MIXER_TAP_RATE (events a second per tap). */
export interface TapLimits {
  /** Default 10; one more is answered 429. */
  maxTaps: number;
  /** Default 100; a tap may ask for less with `rate=`. */
  maxRate: number;
}

export const DEFAULT_TAP_LIMITS: Readonly<TapLimits> = Object.freeze({ maxTaps: 10, maxRate: 100 });

/** An open tap as its transport holds it. */
export interface OpenTap {
  readonly id: string;
  /** Ends the tap (idempotent). */
  close(): void;
}

/**
 * Opens and closes live taps on this replica: compiles the filter, enforces the limits, attaches the
 * session to the hub (and, with Redis, to the relay so every replica feeds it), ticks its drop
 * reports every second, and counts `mixer_tap_events_total{kind}` / `mixer_tap_dropped_total` /
 * `mixer_taps_open`.
 */
export class TapService {
  private readonly open = new Map<string, { session: TapSession; close: () => void; end?: () => void }>();
  private readonly sent: Counter<'kind'>;
  private readonly droppedTotal: Counter;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly hub: ObserverHub,
    private readonly vocab: () => Vocabulary,
    registry: Registry,
    readonly limits: TapLimits = DEFAULT_TAP_LIMITS,
    private readonly relay?: TapRelay,
  ) {
    this.sent = new Counter({
      name: 'mixer_tap_events_total',
      help: 'Events sent to live taps on this replica, by kind.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.droppedTotal = new Counter({
      name: 'mixer_tap_dropped_total',
      help: 'Events a live tap matched but did not send (over its rate, or its reader too slow).',
      registers: [registry],
    });
    const open = this.open;
    new Gauge({
      name: 'mixer_taps_open',
      help: 'Live taps open on this replica.',
      registers: [registry],
      collect() {
        this.set(open.size);
      },
    });
    this.ticker = setInterval(() => {
      for (const t of this.open.values()) t.session.tick();
    }, 1000);
    this.ticker.unref();
  }

  /**
   * Opens a tap for the query of `GET /v1/tap` (see parseTapQuery; `rate` at most `limits.maxRate`).
   * Throws MIXER_ERR_BAD_REQUEST for a bad filter, MIXER_ERR_TOO_MANY_TAPS past `limits.maxTaps`.
   * `end` is called when the service closes the tap (shutdown) so the transport can end its stream.
   */
  openTap(query: Readonly<Record<string, string>>, write: TapWrite, end?: () => void): OpenTap {
    const spec = parseTapQuery(query);
    let rate = this.limits.maxRate;
    if (query.rate !== undefined) {
      const n = Number(query.rate);
      if (!Number.isSafeInteger(n) || n < 1 || n > this.limits.maxRate) {
        const reason = `must be an integer from 1 to ${this.limits.maxRate} (MIXER_TAP_RATE)`;
        throw new MixerError('MIXER_ERR_BAD_REQUEST', `tap rate ${reason}`, { details: [{ field: 'rate', reason }] });
      }
      rate = n;
    }
    const filter = compileTapFilter(spec, this.vocab());
    if (this.open.size >= this.limits.maxTaps) {
      throw new MixerError(
        'MIXER_ERR_TOO_MANY_TAPS',
        `${this.open.size} taps are open on this replica, the most allowed (MIXER_TAP_MAX); close one and retry`,
        {
          retryable: true,
        },
      );
    }
    const id = randomUUID();
    const session = new TapSession(id, filter, rate, write, {
      sent: (kind) => this.sent.inc({ kind }),
      dropped: (n) => this.droppedTotal.inc(n),
    });
    const detach = this.hub.addSink(session);
    const unregister = this.relay?.register(session);
    const close = (): void => {
      if (!this.open.delete(id)) return;
      session.close();
      detach();
      unregister?.();
    };
    this.open.set(id, { session, close, end });
    return { id, close };
  }

  /** How many taps are open here. */
  get count(): number {
    return this.open.size;
  }

  /** Closes every tap and the relay. */
  async close(): Promise<void> {
    clearInterval(this.ticker);
    for (const t of [...this.open.values()]) {
      t.close();
      t.end?.();
    }
    await this.relay?.close();
  }
}
