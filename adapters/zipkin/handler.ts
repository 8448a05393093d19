import * as http from 'node:http';
import * as https from 'node:https';
import { Counter } from 'prom-client';
import { jsonEncoder } from 'zipkin';
import type { AdapterEnv, Handler, InstanceValue, ReportContext } from '../../src/sdk';
import type { ZipkinSettings } from './config';
import { buildSpan } from './span-builder';
import type { DropReason } from './trace-context';
import { ZipkinSendError, postSpans } from './sender';

/** At most one warning about dropped spans per this many ms. */
const DROP_WARN_INTERVAL_MS = 60_000;

/**
 * Sends `tracespan` instances to Zipkin as v2 JSON spans, one POST per `maxSpansPerRequest` spans.
 *
 * `report()` resolves only when every POST of the batch was accepted (2xx) and throws otherwise, so the
 * core retries the job (408/429/5xx, network error, timeout) or dead-letters it (other 4xx, a
 * `PermanentError`). A retried job POSTs all its spans again (at-least-once). Spans without usable
 * ids or times are dropped and counted, never failing the batch. With no URL the handler is disabled
 * and `report()` does nothing. Metrics, in the handler's registry, labelled `handler`:
 * `mixer_zipkin_spans_sent_total`, `mixer_zipkin_spans_dropped_total{reason}`, `mixer_zipkin_spans_unsampled_total`.
 */
export class ZipkinHandler implements Handler {
  private readonly sent: Counter<'handler'>;
  private readonly dropped: Counter<'handler' | 'reason'>;
  private readonly unsampled: Counter<'handler'>;
  private readonly closing = new AbortController();
  private readonly endpoint: URL | undefined;
  /** Keep-alive connections to Zipkin, one pool per handler (closed with it). */
  private readonly agent: http.Agent | undefined;
  private closed = false;
  private lastDropWarn = -Infinity;
  private dropsSinceWarn = 0;

  constructor(
    private readonly settings: ZipkinSettings,
    private readonly env: AdapterEnv,
  ) {
    const registers = [env.registry];
    this.sent = new Counter({ name: 'mixer_zipkin_spans_sent_total', help: 'Spans Zipkin accepted (2xx).', labelNames: ['handler'], registers });
    this.dropped = new Counter({
      name: 'mixer_zipkin_spans_dropped_total',
      help: 'Sampled spans not sent because their ids, b3 header or times were unusable.',
      labelNames: ['handler', 'reason'],
      registers,
    });
    this.unsampled = new Counter({
      name: 'mixer_zipkin_spans_unsampled_total',
      help: 'Spans not sent because their trace is not sampled.',
      labelNames: ['handler'],
      registers,
    });
    if (settings.endpoint !== undefined) {
      this.endpoint = new URL(settings.endpoint);
      this.agent = this.endpoint.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    }
    if (settings.endpoint === undefined) env.logger.info('zipkin handler disabled: params.url is empty, no spans will be sent');
    else env.logger.info({ endpoint: settings.endpoint, sampleProbability: settings.sampleProbability }, 'zipkin handler sending spans');
  }

  /** True when `params.url` is empty: reports are accepted and nothing is sent. */
  get disabled(): boolean {
    return this.settings.endpoint === undefined;
  }

  /**
   * Builds and POSTs the spans of `instances` (non-`tracespan` instances are ignored).
   * Resolves once all were accepted, or at once when the handler is disabled or nothing is sampled.
   *
   * @throws ZipkinSendError (retryable) when a POST failed in a way a retry may fix, or after close;
   *   PermanentError when Zipkin refused a POST (4xx other than 408/429).
   */
  async report(instances: readonly InstanceValue[], ctx: ReportContext): Promise<void> {
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    if (this.closed) throw new ZipkinSendError('zipkin: handler is closed');
    const encoded = this.encode(instances);
    const max = this.settings.maxSpansPerRequest;
    for (let i = 0; i < encoded.length; i += max) {
      const chunk = encoded.slice(i, i + max);
      try {
        await postSpans(endpoint, chunk, this.settings.timeoutMs, this.closing.signal, this.agent);
      } catch (err) {
        if (i > 0) this.env.logger.debug({ jobId: ctx.jobId, attempt: ctx.attempt, sentBefore: i }, 'zipkin: part of a batch was sent before a POST failed');
        throw err;
      }
      this.sent.inc({ handler: this.env.handlerName }, chunk.length);
    }
  }

  /** Aborts POSTs in flight (their reports fail as retryable); later reports fail too. Safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.agent?.destroy();
  }

  private encode(instances: readonly InstanceValue[]): string[] {
    const out: string[] = [];
    let unsampled = 0;
    const drops = new Map<DropReason, number>();
    for (const inst of instances) {
      if (inst.template !== 'tracespan') continue;
      const r = buildSpan(inst.fields, this.settings.sampleProbability);
      if ('span' in r) out.push(jsonEncoder.JSON_V2.encode(r.span));
      else if ('unsampled' in r) unsampled++;
      else drops.set(r.dropped, (drops.get(r.dropped) ?? 0) + 1);
    }
    const handler = this.env.handlerName;
    if (unsampled > 0) this.unsampled.inc({ handler }, unsampled);
    if (drops.size > 0) this.countDrops(drops);
    return out;
  }

  private countDrops(drops: ReadonlyMap<DropReason, number>): void {
    const handler = this.env.handlerName;
    let total = 0;
    for (const [reason, n] of drops) {
      this.dropped.inc({ handler, reason }, n);
      total += n;
    }
    this.dropsSinceWarn += total;
    const now = Date.now();
    if (now - this.lastDropWarn < DROP_WARN_INTERVAL_MS) return;
    this.env.logger.warn(
      { dropped: this.dropsSinceWarn, reasons: Object.fromEntries(drops) },
      'zipkin: dropped spans with unusable trace ids, b3 header or times (see mixer_zipkin_spans_dropped_total)',
    );
    this.lastDropWarn = now;
    this.dropsSinceWarn = 0;
  }
}
