import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TemplateName } from '../templates/templates';
import type { ThrottledLog } from '../base/throttled-log';
import type { JobMarkers } from './job-markers';
import type { AdapterCapability, DecisionRecord } from './decision';

import type { RedisConnection } from '../base/redis-connect';
/**
 * The Redis connection Mixer hands to adapters: one server, a Redis Cluster or a Sentinel-watched
 * primary (`Redis | Cluster`). An adapter must use only commands and scripts that work on all three:
 * the keys one script or MULTI touches share a hash tag (`{...}`), see docs/deploy.md.
 */
export type { RedisConnection };

/** google.rpc status codes used by check answers. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export interface Status {
  code: number;
  message?: string;
}

/** A template instance evaluated against one bag: the data an adapter receives. */
export interface InstanceValue {
  /** Instance reference, `namespace/name`. */
  readonly name: string;
  readonly template: TemplateName;
  /**
   * Field values; `map` fields are objects; fields whose expressions found nothing are absent.
   * Read-only: instances built from one bag share equal map objects (e.g. metric dimensions).
   */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** What a check handler answers. Durations are milliseconds. */
export interface CheckResult {
  status: Status;
  /** How long the verdict may be cached, ms (default 60 000). */
  validDuration?: number;
  /** How many uses the verdict may be cached for (default 10 000). */
  validUseCount?: number;
}

export interface QuotaArgs {
  /** Amount asked for (≥ 1). */
  amount: number;
  /** Grant what is left rather than nothing when less than `amount` remains. */
  bestEffort: boolean;
  /** Identifies a retried request so it is not charged twice (may be empty). */
  dedupId: string;
}

export interface QuotaResult {
  grantedAmount: number;
  /** How long the grant is valid, ms. */
  validDuration: number;
  status?: Status;
}

export interface ReportContext {
  /** Stable id of the queue job the instances came from; the same on redelivery. */
  jobId: string;
  /** 1 for the first delivery. */
  attempt: number;
}

/**
 * A configured adapter. Every method may be sync or async; the runtime guards each call
 * (a throw, a rejection or a timeout becomes a typed error and never affects other handlers).
 * `close()` is called once the handler is no longer used; it must be safe to call twice.
 */
export interface Handler {
  /** Check templates (`checknothing`, `listentry`): decide on one instance. */
  check?(instance: InstanceValue): CheckResult | Promise<CheckResult>;
  /** The `quota` template: allocate `args.amount` for the instance's dimensions. */
  quota?(instance: InstanceValue, args: QuotaArgs): QuotaResult | Promise<QuotaResult>;
  /** Report templates: consume a batch of instances. Throw {@link PermanentError} for bad data. */
  report?(instances: readonly InstanceValue[], ctx: ReportContext): void | Promise<void>;
  /**
   * Adapters declaring the `decisions` capability: every check decision, after it is made (see
   * {@link DecisionRecord}). Synchronous and never blocking: buffer, do I/O later.
   */
  decision?(record: DecisionRecord): void;
  close?(): void | Promise<void>;
  /**
   * Read-only HTTP routes the handler serves on Mixer's API port, by exact path (e.g. the graph
   * adapter's `GET /v1/graph`). Mounted by `mixer serve` for the live config; throw {@link RouteError}
   * for a bad query.
   */
  readonly routes?: Readonly<Record<string, AdapterRoute>>;
}

/** A GET route served by a handler: query string values in, an answer out. */
export type AdapterRoute = (query: Readonly<Record<string, string>>) => RouteAnswer | Promise<RouteAnswer>;

export interface RouteAnswer {
  /** HTTP status, default 200. */
  status?: number;
  /** Default `application/json` for an object body, `text/plain` for a string. */
  contentType?: string;
  /** Extra response headers, e.g. `cache-control`. */
  headers?: Readonly<Record<string, string>>;
  body: string | object;
}

/** Thrown by a route for a bad query: answered as a 400 (or the given 4xx) error naming `field`. */
export class RouteError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'RouteError';
  }
}

/** Cancellable timers owned by one handler; all are cleared when the handler closes. */
export interface AdapterTimers {
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  setInterval(fn: () => void, ms: number): NodeJS.Timeout;
  clear(timer: NodeJS.Timeout): void;
}

/** What the runtime gives an adapter instance. */
export interface AdapterEnv {
  /** Handler reference, `namespace/name`. */
  readonly handlerName: string;
  /** A child logger bound to the handler. */
  readonly logger: Logger;
  /** The handler's own metrics registry (merged into Mixer's `/metrics`). */
  readonly registry: Registry;
  readonly timers: AdapterTimers;
  /** Mixer's shared Redis connection (one server, a cluster or Sentinel); undefined in embedded mode. */
  readonly redis?: RedisConnection;
  /**
   * Waits until the writes this process sent so far to the Redis primaries holding `keys` (on
   * `redis`) are on that primary's connected replicas (Redis `WAIT`; at most 0.5 s). Call it after
   * writing state whose loss in a failover would break exactly-once counting (counts and their
   * once-per-job marker) and before resolving `report`. Resolves at once without Redis or replicas;
   * writes acknowledged by fewer replicas than expected are counted in `mixer_redis_unreplicated_writes_total`.
   */
  awaitReplicas(...keys: string[]): Promise<void>;
  /**
   * Logs a recurring problem at most once a minute per key, with how often it was suppressed:
   * for per-item problems (a bad instance, a failed push), so a flood yields one line, not thousands.
   */
  readonly throttledLog: ThrottledLog;
  /** A fresh "apply once per job" marker set for in-memory state, markers kept `ttlMs`. */
  jobMarkers(ttlMs: number): JobMarkers;
  /** Key prefix to use for anything this adapter stores in Redis. */
  readonly keyPrefix: string;
  /**
   * Which process runs the handler: `serve` (API, and in-process worker unless disabled) or
   * `worker` (`mixer worker`, reports only). Mesh-wide state rendered for scraping (e.g. `istio_*`
   * from Redis) belongs on `serve` only, so Prometheus does not see it twice.
   */
  readonly role: 'serve' | 'worker';
}

/** The factory of an adapter: its name (as used in YAML), templates, config schema and constructor. */
// `any` by default so that factories of different config types fit one list (the inventory);
// each adapter names its own config type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface AdapterFactory<C = any> {
  readonly name: string;
  readonly description?: string;
  /** Templates its handlers take; may be empty only for an adapter with a capability (e.g. `decisions`). */
  readonly templates: readonly TemplateName[];
  /**
   * What its handlers receive besides instances: `decisions` (every check decision, through
   * `Handler.decision`, whether or not a rule names the handler). Default none.
   */
  readonly capabilities?: readonly AdapterCapability[];
  /** JSON Schema of `params` (TypeBox schemas are JSON Schema). Defaults are applied. */
  readonly configSchema: object;
  create(config: C, env: AdapterEnv): Handler | Promise<Handler>;
}

/** Thrown by an adapter for data that will never succeed: the core skips retries. */
export class PermanentError extends Error {
  readonly permanent = true;
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'PermanentError';
  }
}

/** True for errors that retrying cannot fix. */
export function isPermanent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}
