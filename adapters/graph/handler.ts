import { Counter } from 'prom-client';
import { RouteError } from '../../src/sdk';
import type { AdapterEnv, AdapterRoute, Handler, InstanceValue, ReportContext, RouteAnswer } from '../../src/sdk';
import { aggregate } from './aggregate';
import type { GraphSettings } from './config';
import { observationOf } from './observation';
import type { Observation } from './observation';
import { pageRoutes } from './page-routes';
import { RedisGraphStore } from './redis-store';
import { buildGraph, toDot, toGraphJson } from './render';
import type { GraphView } from './render';
import { MemoryGraphStore } from './store';
import type { GraphStore } from './store';
import { DEFAULT_WINDOW, isWindowName, WINDOW_NAMES, windowRange } from './windows';
import type { WindowName } from './windows';

/** Internal options of {@link GraphHandler} (tests); not reachable from config. */
export interface GraphHandlerOptions {
  /** Clock, epoch ms; default `Date.now`. Decides the bucket of requests without a time, and the windows read. */
  now?: () => number;
}

/** Formats of `GET /v1/graph`. */
export const GRAPH_FORMATS = ['json', 'dot'] as const;

/** At most one warning per this many ms about dropped edges. */
const WARN_EVERY_MS = 60_000;

/**
 * The service graph: `report()` counts `edge` instances, `routes['/v1/graph']` renders a window.
 * With `env.redis` the counts live in Redis (shared by every replica with the same handler name);
 * without, in this process's memory. Each job is applied once (see README.md). `/v1/graph` answers
 * are computed once per window, format and time bucket (10 s for 1m and 5m, 1 min for 1h) and
 * carry at most `maxGraphEdges` edges. `close()` has nothing to release (the Redis connection is
 * the env's) and is safe twice.
 */
export class GraphHandler implements Handler {
  /** `GET /v1/graph?window=1m|5m|1h&format=json|dot`, and the graph page `GET /graph` (see page-routes.ts). */
  readonly routes: Readonly<Record<string, AdapterRoute>>;
  private readonly store: GraphStore;
  private readonly now: () => number;
  private readonly dropped: Counter;
  private readonly duplicates: Counter;
  private readonly truncated: Counter;
  /** `<window>:<format>` → the answer computed in time bucket `slot` of the window's resolution. */
  private readonly answers = new Map<string, { slot: number; answer: Promise<RouteAnswer> }>();
  private readonly duplicateRequests: Counter;
  private lastWarn = -Infinity;

  constructor(
    private readonly settings: GraphSettings,
    private readonly env: AdapterEnv,
    opts: GraphHandlerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.store = env.redis
      ? new RedisGraphStore(env.redis, env.keyPrefix, settings.maxEdges, settings.maxBucketBytes, (...keys) => env.awaitReplicas(...keys))
      : new MemoryGraphStore(settings.maxEdges, settings.maxBucketBytes);
    this.dropped = new Counter({
      name: 'mixer_graph_edges_dropped_total',
      help: 'Edge counts not kept because their time bucket already held maxEdges edges or maxBucketBytes of edge state.',
      registers: [env.registry],
    });
    this.truncated = new Counter({
      name: 'mixer_graph_label_values_truncated_total',
      help: 'Edge instances with a text field (workload, app, service, ...) cut to maxLabelValueLength.',
      registers: [env.registry],
    });
    this.duplicates = new Counter({
      name: 'mixer_graph_duplicate_jobs_total',
      help: 'Report jobs seen again (redelivered) and not counted a second time.',
      registers: [env.registry],
    });
    this.duplicateRequests = new Counter({
      name: 'mixer_graph_duplicate_requests_total',
      help: 'Reports of a request already counted (its other side reported it first), not counted again.',
      registers: [env.registry],
    });
    this.routes = Object.freeze({ '/v1/graph': (query: Readonly<Record<string, string>>) => this.serve(query), ...pageRoutes(env.logger) });
  }

  /**
   * Counts a batch of `edge` instances, once per `ctx.jobId`: one atomic store update for the whole
   * batch. Throws {@link PermanentError} (nothing counted) for a malformed instance; rejects with a
   * retryable error when the store fails (nothing counted either).
   */
  async report(instances: readonly InstanceValue[], ctx: ReportContext): Promise<void> {
    if (instances.length === 0) return;
    const now = this.now();
    const observations = instances.map((inst) => observationOf(inst, { maxLabelValueBytes: this.settings.maxLabelValueBytes }));
    const delta = aggregate(await this.onePerRequest(observations, ctx.jobId, now), now);
    if (delta.buckets.size === 0) return;
    const outcome = await this.store.apply(ctx.jobId, delta, now);
    if (!outcome.applied) {
      this.duplicates.inc();
      this.env.logger.debug({ jobId: ctx.jobId, attempt: ctx.attempt }, 'graph: job already counted; skipped');
      return;
    }
    const truncated = observations.reduce((n, o) => (o.truncated ? n + 1 : n), 0);
    if (truncated > 0) {
      this.truncated.inc(truncated);
      this.env.throttledLog.warn(
        'truncated',
        { truncated, maxLabelValueLength: this.settings.maxLabelValueBytes },
        'graph: edge text field longer than maxLabelValueLength; cut',
      );
    }
    if (outcome.droppedEdges > 0) {
      this.dropped.inc(outcome.droppedEdges);
      if (now - this.lastWarn >= WARN_EVERY_MS) {
        this.lastWarn = now;
        this.env.logger.warn({ droppedEdges: outcome.droppedEdges }, 'graph: time bucket full (maxEdges or maxBucketBytes); requests of new edges not counted');
      }
    }
  }

  /**
   * Both sides of a call may report it: each request key (request id and called service) is counted
   * by the first job that claims it, and once within a job. A client-side (outbound) report without a
   * request id is not counted (nothing could tell it from the server side's report).
   */
  private async onePerRequest(obs: Observation[], jobId: string, now: number): Promise<Observation[]> {
    const ids = [...new Set(obs.flatMap((o) => (o.requestKey !== undefined ? [o.requestKey] : [])))];
    const owned = ids.length > 0 ? await this.store.claimRequests(jobId, ids, now) : new Set<string>();
    const seen = new Set<string>();
    const out: Observation[] = [];
    let duplicates = 0;
    for (const o of obs) {
      if (o.requestKey === undefined) {
        if (!o.outbound) out.push(o);
        continue;
      }
      if (owned.has(o.requestKey) && !seen.has(o.requestKey)) {
        seen.add(o.requestKey);
        out.push(o);
      } else duplicates++;
    }
    if (duplicates > 0) this.duplicateRequests.inc(duplicates);
    return out;
  }

  /** The graph of `window` as of now (the injected clock in tests), at most `maxGraphEdges` edges; not cached. */
  async graph(window: WindowName): Promise<GraphView> {
    const now = this.now();
    const range = windowRange(window, now);
    return buildGraph(await this.store.read(range, now), window, range, now, this.settings.maxGraphEdges);
  }

  close(): void {}

  private async serve(query: Readonly<Record<string, string>>): Promise<RouteAnswer> {
    const window = query.window ?? DEFAULT_WINDOW;
    if (!isWindowName(window)) throw new RouteError(`window must be one of ${WINDOW_NAMES.join(', ')}; got ${JSON.stringify(window)}`, 'window');
    const format = query.format ?? 'json';
    if (!(GRAPH_FORMATS as readonly string[]).includes(format)) {
      throw new RouteError(`format must be one of ${GRAPH_FORMATS.join(', ')}; got ${JSON.stringify(format)}`, 'format');
    }
    // One answer per window and format per time bucket: every caller in that bucket (the page polls
    // every 5 s, from every open browser) shares it, and callers that come while it is built wait for it.
    const now = this.now();
    const slot = Math.floor(now / windowRange(window, now).resolution.bucketMs);
    const key = `${window}:${format}`;
    const cached = this.answers.get(key);
    if (cached && cached.slot === slot) return cached.answer;
    const answer = this.answer(window, format);
    this.answers.set(key, { slot, answer });
    void answer.catch(() => {
      if (this.answers.get(key)?.answer === answer) this.answers.delete(key);
    });
    return answer;
  }

  private async answer(window: WindowName, format: string): Promise<RouteAnswer> {
    const view = await this.graph(window);
    if (format === 'dot') return { contentType: 'text/vnd.graphviz; charset=utf-8', body: toDot(view) };
    return { contentType: 'application/json', body: JSON.stringify(toGraphJson(view, windowRange(window, view.now).windowMs)) };
  }
}
