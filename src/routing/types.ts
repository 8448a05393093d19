/**
 * A compiled RouteRule: plain JSON data, the same in Mixer's config plan and on the wire of
 * `GET /v1/routes`, so sidecars and the ingress read exactly what Mixer validated.
 * Durations are milliseconds; percentages are 0–100.
 */

/** One header condition, exactly one field set; `regex` must match the whole value. */
export interface HeaderMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/** One weighted destination subset: instances carrying all of `labels` (empty: any instance). */
export interface WeightedRoute {
  labels: Readonly<Record<string, string>>;
  /** 0–100; the weights of a rule sum to 100. */
  weight: number;
}

/** A RouteRule, validated and normalised. */
export interface RouteRulePlan {
  /** `namespace/name`. */
  ref: string;
  name: string;
  namespace: string;
  /** The service the rule applies to (`destination.name`) and its namespace (default: the rule's). */
  destination: { name: string; namespace: string };
  /** Higher wins; default 0. Ties break by name. */
  precedence: number;
  match: {
    /** Caller's service name. */
    sourceName?: string;
    /** Labels the caller must carry. */
    sourceLabels?: Readonly<Record<string, string>>;
    /** Request headers by lower-case name; the pseudo-header `uri` matches the request path. */
    headers?: Readonly<Record<string, HeaderMatch>>;
  };
  /** At least one route; weights sum to 100. */
  routes: readonly WeightedRoute[];
  /** Whole-request timeout, ms (`httpReqTimeout.simpleTimeout.timeout`); undefined: the proxy default. */
  timeoutMs?: number;
  /** `httpReqRetries.simpleRetry`: retries after the first try, on 5xx, connect failures and per-try timeouts. */
  retries?: { attempts: number; perTryTimeoutMs?: number };
  /** `httpFault`: injected delay and abort, each for a percentage of requests. */
  fault?: {
    delay?: { percent: number; fixedDelayMs: number };
    abort?: { percent: number; httpStatus: number };
  };
}

/** The answer of `GET /v1/routes`. */
export interface RoutesAnswer {
  /** Mixer's live config generation (the same number check answers carry). */
  configGeneration: number;
  /** Generations of two epochs are not comparable (shared by replicas on one Redis; per process without). */
  epoch: string;
  /** Every live RouteRule, highest precedence first, ties by name. */
  routes: RouteRulePlan[];
  /** Every live PeerAuthentication (absent from older Mixers: then every workload is PERMISSIVE). */
  peerAuthentications?: PeerAuthPlan[];
}

/** Mutual TLS modes of a PeerAuthentication (Istio's); `UNSET` inherits the namespace's or the mesh's. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';

/** A PeerAuthentication, validated: who it applies to and its mode. */
export interface PeerAuthPlan {
  /** `namespace/name`. */
  ref: string;
  name: string;
  namespace: string;
  /** Workload labels it applies to (`selector.matchLabels`); unset: the whole namespace (the mesh, in the root namespace). */
  matchLabels?: Readonly<Record<string, string>>;
  mode: MtlsMode;
}
