import { duplicateConnection } from '../base/redis-connect';
import type { RedisConnection } from '../base/redis-connect';
import type { Logger } from 'pino';
import type { Vocabulary } from '../attributes/types';
import type { ObserverHub, TapSink } from '../runtime/observers';
import { compileTapFilter } from './filter';
import type { TapFilter, TapFilterSpec } from './filter';
import { RateWindow } from './session';

/** How often a tap's owner renews its registration, and how long one lasts unrenewed, ms. */
const HEARTBEAT_MS = 5_000;
const EXPIRES_MS = 15_000;
/** How often every replica re-reads the registrations (besides on every notice), ms. */
const POLL_MS = 2_000;

interface Registration {
  owner: string;
  filter: TapFilterSpec;
  rate: number;
  expires: number;
}

/** A tap opened on this replica, as the relay needs it. */
export interface RelayedTap {
  readonly id: string;
  readonly filter: TapFilter;
  readonly rate: number;
  offer(kind: 'check' | 'report', json: string): void;
  addDropped(n: number): void;
}

/** Forwards this replica's events matching another replica's tap, at most its rate, through pub/sub. */
class RemoteSink implements TapSink {
  private readonly limit: RateWindow;
  constructor(
    readonly filter: TapFilter,
    rate: number,
    private readonly publish: (msg: string) => void,
  ) {
    this.limit = new RateWindow(rate);
  }
  admit(): boolean {
    return this.limit.admit();
  }
  send(kind: 'check' | 'report', json: string): void {
    this.publish(`${kind}\n${json}`);
  }
  tick(): void {
    const n = this.limit.takeDropped();
    if (n > 0) this.publish(`dropped\n${n}`);
  }
}

/**
 * Fans taps in across replicas through Redis: a tap opened here is registered (filter, rate, owner)
 * in the hash `<prefix>tap:sessions` and announced on `<prefix>tap:control`; every replica attaches,
 * for each tap of another replica, a sink that publishes its matching events (within the tap's rate,
 * drops counted) on `<prefix>tap:ev:<id>`, which the owner subscribes to. Registrations expire unless
 * renewed, so a crashed replica's taps vanish. Redis away: taps keep seeing this replica's traffic.
 */
export class TapRelay {
  private readonly sub: RedisConnection;
  private readonly mine = new Map<string, RelayedTap>();
  private readonly remote = new Map<string, { sink: RemoteSink; detach: () => void }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly hub: ObserverHub,
    private readonly vocab: () => Vocabulary,
    private readonly logger: Logger,
  ) {
    this.sub = duplicateConnection(redis, 'subscriber');
    this.sub.on('error', () => undefined);
    this.sub.on('message', (channel: string, msg: string) => this.onMessage(channel, msg));
    this.sub.on('ready', () => void this.refresh());
    void this.sub.subscribe(this.key('tap:control')).catch(() => undefined);
    this.timers.push(
      setInterval(() => void this.refresh(), POLL_MS),
      setInterval(() => void this.heartbeat(), HEARTBEAT_MS),
    );
    this.timers.push(setInterval(() => this.tickRemote(), 1000));
    for (const t of this.timers) t.unref();
  }

  private key(s: string): string {
    return `${this.prefix}${s}`;
  }

  /** Registers a local tap so other replicas send it their events; returns its removal. */
  register(tap: RelayedTap): () => void {
    this.mine.set(tap.id, tap);
    void this.sub.subscribe(this.key(`tap:ev:${tap.id}`)).catch(() => undefined);
    void this.announce(tap);
    return () => {
      if (!this.mine.delete(tap.id)) return;
      void this.sub.unsubscribe(this.key(`tap:ev:${tap.id}`)).catch(() => undefined);
      void this.redis
        .hdel(this.key('tap:sessions'), tap.id)
        .then(() => this.redis.publish(this.key('tap:control'), 'closed'))
        .catch(() => undefined);
    };
  }

  private async announce(tap: RelayedTap): Promise<void> {
    const reg: Registration = { owner: this.hub.replica, filter: tap.filter.spec, rate: tap.rate, expires: Date.now() + EXPIRES_MS };
    try {
      await this.redis.hset(this.key('tap:sessions'), tap.id, JSON.stringify(reg));
      await this.redis.publish(this.key('tap:control'), 'opened');
    } catch (err) {
      this.logger.debug({ err }, 'tap relay: registration failed; the tap sees this replica only until Redis is back');
    }
  }

  private async heartbeat(): Promise<void> {
    for (const tap of this.mine.values()) await this.announce(tap);
  }

  private onMessage(channel: string, msg: string): void {
    if (channel === this.key('tap:control')) return void this.refresh();
    const id = channel.slice(this.key('tap:ev:').length);
    const tap = this.mine.get(id);
    if (!tap) return;
    const nl = msg.indexOf('\n');
    const kind = msg.slice(0, nl);
    const body = msg.slice(nl + 1);
    if (kind === 'dropped') tap.addDropped(Number(body) || 0);
    else if (kind === 'check' || kind === 'report') tap.offer(kind, body);
  }

  /** Attaches a sink for every live registration of another replica and detaches the rest. */
  async refresh(): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return;
    let all: Record<string, string>;
    try {
      all = await this.redis.hgetall(this.key('tap:sessions'));
    } catch {
      return;
    }
    const now = Date.now();
    const live = new Set<string>();
    for (const [id, text] of Object.entries(all)) {
      let reg: Registration;
      try {
        reg = JSON.parse(text) as Registration;
      } catch {
        continue;
      }
      if (reg.expires < now) {
        if (reg.expires < now - EXPIRES_MS) void this.redis.hdel(this.key('tap:sessions'), id).catch(() => undefined);
        continue;
      }
      if (reg.owner === this.hub.replica) continue;
      live.add(id);
      if (this.remote.has(id)) continue;
      let filter: TapFilter;
      try {
        filter = compileTapFilter(reg.filter, this.vocab());
      } catch {
        continue; // a filter this replica's vocabulary cannot run: it sends that tap nothing
      }
      const channel = this.key(`tap:ev:${id}`);
      const sink = new RemoteSink(filter, reg.rate, (m) => void this.redis.publish(channel, m).catch(() => undefined));
      this.remote.set(id, { sink, detach: this.hub.addSink(sink) });
    }
    for (const [id, r] of this.remote) {
      if (live.has(id) && !this.closed) continue;
      r.detach();
      this.remote.delete(id);
    }
  }

  private tickRemote(): void {
    for (const r of this.remote.values()) r.sink.tick();
  }

  /** Stops relaying; unregisters this replica's taps. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const r of this.remote.values()) r.detach();
    this.remote.clear();
    const ids = [...this.mine.keys()];
    this.mine.clear();
    if (ids.length > 0) await this.redis.hdel(this.key('tap:sessions'), ...ids).catch(() => undefined);
    this.sub.disconnect();
  }
}
