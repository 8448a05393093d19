/**
 * `envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs`: Envoy's gRPC access-log sink.
 * Each entry becomes one report bag; bags go to the same queue as `/v1/report`, in batches of at
 * most 100 bags or 1 s, whichever comes first (the sidecar's rule). The stream is answered OK only
 * once every bag it carried is kept by the queue; a batch the queue cannot keep (Redis away) ends the
 * stream with UNAVAILABLE at once, so Envoy knows and reconnects.
 */
import type { sendUnaryData, ServerReadableStream } from '@grpc/grpc-js';
import type { BagValues } from '../../attributes/bag';
import { attributesOfHttpEntry, attributesOfTcpEntry } from './als-attributes';
import type { HttpEntry, TcpEntry } from './als-attributes';
import { enqueueBags, reportBag, vocabularyOf } from './doors';
import type { DoorDeps } from './doors';
import { throwIfMalformed, wireSize } from './malformed';
import { workloadOfNode } from './node-identity';
import { callerOf } from './tls';
import type { ProtoNode, Workload } from './node-identity';
import { toServiceError } from './status';

/** Bags per queued batch, and the longest a bag waits for its batch, as the sidecar does. */
export const ALS_BATCH = { maxBags: 100, maxWaitMs: 1000 } as const;
/** Batches of one stream in flight to the queue before the stream is paused (backpressure). */
const MAX_IN_FLIGHT = 4;

interface AlsMessage {
  identifier?: { node?: ProtoNode; log_name?: string };
  http_logs?: { log_entry?: HttpEntry[] };
  tcp_logs?: { log_entry?: TcpEntry[] };
}

/** The open streams, so shutdown can flush and end them (Envoy keeps its stream open for good). */
export class AlsStreams {
  private readonly open = new Set<AlsStream>();
  add(s: AlsStream): void {
    this.open.add(s);
  }
  delete(s: AlsStream): void {
    this.open.delete(s);
  }
  get size(): number {
    return this.open.size;
  }
  /** Flushes every open stream and answers it (OK once its bags are kept). */
  async drain(): Promise<void> {
    await Promise.all([...this.open].map((s) => s.finish()));
  }
}

/** One Envoy stream: its node (sent on the first message only), its pending bags, its batches in flight. */
class AlsStream {
  private node: Workload | undefined;
  private pending: BagValues[] = [];
  /** Bytes on the wire of the pending bags (each entry's share of its message), or undefined when unknown. */
  private pendingBytes: number | undefined = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private done = false;
  private received = 0;

  constructor(
    private readonly call: ServerReadableStream<AlsMessage, unknown>,
    private readonly callback: sendUnaryData<unknown>,
    private readonly deps: DoorDeps,
    private readonly streams: AlsStreams,
  ) {}

  onMessage(msg: AlsMessage): void {
    if (this.done) return;
    try {
      throwIfMalformed(msg);
      if (this.node === undefined && msg.identifier?.node) this.node = this.withCaller(workloadOfNode(msg.identifier.node));
      const node = this.node ?? this.withCaller(workloadOfNode(undefined));
      const vocab = vocabularyOf(this.deps);
      const http = msg.http_logs?.log_entry ?? [];
      const tcp = msg.tcp_logs?.log_entry ?? [];
      const size = wireSize(msg);
      const each = size === undefined ? undefined : size / Math.max(1, http.length + tcp.length);
      for (const e of http) this.push(reportBag(attributesOfHttpEntry(e, node, vocab), this.deps, `log_entry[${this.received}]`), each);
      for (const e of tcp) this.push(reportBag(attributesOfTcpEntry(e, node, vocab), this.deps, `log_entry[${this.received}]`), each);
    } catch (e) {
      this.deps.metrics.reports.inc({ result: 'rejected' });
      this.flush(); // the entries before the bad one are good: keep them
      this.fail(e);
    }
  }

  /** Under mutual TLS the reporting proxy's principal is its verified certificate's SPIFFE id, whatever its node says. */
  private withCaller(w: Workload): Workload {
    const caller = callerOf(this.call);
    return caller ? { ...w, principal: caller.principal } : w;
  }

  private push(bag: BagValues, bytes: number | undefined): void {
    this.received++;
    this.pending.push(bag);
    this.pendingBytes = bytes === undefined || this.pendingBytes === undefined ? undefined : this.pendingBytes + bytes;
    if (this.pending.length >= ALS_BATCH.maxBags) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), ALS_BATCH.maxWaitMs);
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const bags = this.pending;
    const bytes = this.pendingBytes === undefined ? undefined : Math.ceil(this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const p = enqueueBags(bags, this.deps, bytes).then(
      () => {
        this.inFlight.delete(p);
        if (this.inFlight.size < MAX_IN_FLIGHT && this.call.isPaused()) this.call.resume();
      },
      (e: unknown) => {
        this.inFlight.delete(p);
        this.fail(e);
      },
    );
    this.inFlight.add(p);
    if (this.inFlight.size >= MAX_IN_FLIGHT) this.call.pause();
  }

  private fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.pending = [];
    this.pendingBytes = 0;
    this.streams.delete(this);
    this.callback(toServiceError(err));
  }

  /** Flushes, waits for every batch, answers OK (unless a batch failed first). */
  async finish(): Promise<void> {
    if (this.done) return;
    this.flush();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.done) return;
    this.done = true;
    this.streams.delete(this);
    this.callback(null, {});
  }

  /** The client went away (cancelled): what it sent is flushed; nobody is left to answer. */
  cancelled(): void {
    if (this.done) return;
    this.flush();
    this.done = true;
    this.streams.delete(this);
  }
}

/** The client-streaming handler (grpc-js). */
export function alsHandler(deps: DoorDeps, streams: AlsStreams) {
  return (call: ServerReadableStream<AlsMessage, unknown>, callback: sendUnaryData<unknown>): void => {
    const s = new AlsStream(call, callback, deps, streams);
    streams.add(s);
    call.on('data', (m: AlsMessage) => s.onMessage(m));
    call.on('end', () => void s.finish());
    call.on('cancelled', () => s.cancelled());
    call.on('error', () => s.cancelled());
  };
}
