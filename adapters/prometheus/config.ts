import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, StringEnum } from '../../src/sdk';

/** Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const METRIC_NAME_PATTERN = '^[a-zA-Z_:][a-zA-Z0-9_:]*$';
/** Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*` (names starting with `__` are rejected later). */
export const LABEL_NAME_PATTERN = '^[a-zA-Z_][a-zA-Z0-9_]*$';
/** Default of `maxLabelValueLength`, bytes. */
export const DEFAULT_MAX_LABEL_VALUE_LENGTH = 256;
/** Smallest `maxLabelValueLength`: room for some of the value and the truncation marker. */
export const MIN_LABEL_VALUE_LENGTH = 32;
/** Default of `maxScrapeBytes`: 8 MiB, so `/metrics` stays well under 20 MB with Mixer's own metrics and Mixer under 300 MB RSS while rendering it. */
export const DEFAULT_MAX_SCRAPE_BYTES = 8 * 1024 * 1024;
/** Most finite buckets a distribution may have (bounded state per series). */
export const MAX_BUCKETS = 200;

/** The metric kinds (Istio 1.4 names). */
export const METRIC_KINDS = ['COUNTER', 'GAUGE', 'DISTRIBUTION'] as const;
/** A metric kind: COUNTER adds, GAUGE sets, DISTRIBUTION observes into buckets. */
export type MetricKind = (typeof METRIC_KINDS)[number];

const strict = { additionalProperties: false } as const;
const Bounds = Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_BUCKETS });

/** `{explicitBuckets: {bounds: [...]}}`: the finite upper bounds, strictly ascending. */
const ExplicitBuckets = Type.Object({ explicitBuckets: Type.Object({ bounds: Bounds }, strict) }, strict);

/** `{linearBuckets: {numFiniteBuckets, width, offset}}`: bounds `offset + width·i`, i = 0 … n−1. */
const LinearBuckets = Type.Object(
  {
    linearBuckets: Type.Object(
      {
        numFiniteBuckets: Type.Integer({ minimum: 1, maximum: MAX_BUCKETS }),
        width: Type.Number({ exclusiveMinimum: 0 }),
        offset: Type.Optional(Type.Number()),
      },
      strict,
    ),
  },
  strict,
);

/** `{exponentialBuckets: {numFiniteBuckets, growthFactor, scale}}`: bounds `scale·growthFactor^i`, i = 0 … n−1. */
const ExponentialBuckets = Type.Object(
  {
    exponentialBuckets: Type.Object(
      {
        numFiniteBuckets: Type.Integer({ minimum: 1, maximum: MAX_BUCKETS }),
        growthFactor: Type.Number({ exclusiveMinimum: 1 }),
        scale: Type.Number({ exclusiveMinimum: 0 }),
      },
      strict,
    ),
  },
  strict,
);

/** One of the three bucket definitions, or a plain array of bounds as shorthand for `explicitBuckets`. */
export const BucketsDefinition = Type.Union([Bounds, ExplicitBuckets, LinearBuckets, ExponentialBuckets]);

/** One metric the handler maintains (Istio 1.4 `MetricInfo`, camelCase). */
export const MetricInfo = Type.Object(
  {
    /** Full Prometheus name, e.g. `istio_requests_total` (no prefix is added). */
    name: Type.String({ pattern: METRIC_NAME_PATTERN, maxLength: 200 }),
    /** The `metric` instance feeding it: `namespace/name`, or a name in the handler's namespace. */
    instanceName: Type.String({ minLength: 1 }),
    kind: StringEnum(METRIC_KINDS),
    /** HELP text. */
    description: Type.Optional(Type.String()),
    /** Labels, in order; each takes the instance's `dimensions[label]` ("unknown" when absent). */
    labelNames: Type.Optional(Type.Array(Type.String({ pattern: LABEL_NAME_PATTERN, maxLength: 100 }), { maxItems: 64, default: [] })),
    /** DISTRIBUTION only; default Prometheus' default buckets (0.005 … 10). */
    buckets: Type.Optional(BucketsDefinition),
    /**
     * With Redis: how many hash slots the metric's series are spread over (by a hash of the series),
     * so a big metric's writes spread over a Redis Cluster's primaries; rendering merges them.
     * `maxSeriesPerMetric` and the metric's share of `maxScrapeBytes` are split evenly between the
     * shards. Default 1 (one slot per metric). Not an Istio field.
     */
    redisShards: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1 })),
  },
  strict,
);

/** Params of the `prometheus` handler (Istio 1.4 names, camelCase). */
export const PrometheusParams = Type.Object(
  {
    metrics: Type.Optional(Type.Array(MetricInfo, { default: [] })),
    metricsExpirationPolicy: Type.Optional(
      Type.Object(
        {
          /** A series not updated for this long is removed (Go duration, default `10m`; `0s` = never). */
          metricsExpiryDuration: Type.Optional(GoDuration({ default: '10m' })),
          /** How often idle series are looked for (Go duration, default `1m`). */
          expiryCheckIntervalDuration: Type.Optional(GoDuration({ default: '1m' })),
        },
        { ...strict, default: {} },
      ),
    ),
    /** Most series (label sets) per metric; a new series beyond it is dropped and counted (default 10000). */
    maxSeriesPerMetric: Type.Optional(Type.Integer({ minimum: 1, default: 10_000 })),
    /**
     * Longest label value, bytes of UTF-8 (default 256). A longer value is cut and ends with a marker
     * (`…[truncated <hash>]`), counted in `mixer_prometheus_label_values_truncated_total{metric}`.
     */
    maxLabelValueLength: Type.Optional(Type.Integer({ minimum: MIN_LABEL_VALUE_LENGTH, maximum: 65_536, default: DEFAULT_MAX_LABEL_VALUE_LENGTH })),
    /**
     * Most bytes this handler's metrics may add to one `/metrics` page (default 8 MiB). Split between
     * its metrics in proportion to the size of one series; a new series that would not fit its
     * metric's share is refused and counted like one over `maxSeriesPerMetric`.
     */
    maxScrapeBytes: Type.Optional(Type.Integer({ minimum: 4096, default: DEFAULT_MAX_SCRAPE_BYTES })),
  },
  strict,
);

/** Validated params (schema defaults applied), as `create` receives them. */
export type PrometheusConfig = Static<typeof PrometheusParams>;
/** One entry of `metrics`. */
export type MetricInfoConfig = Static<typeof MetricInfo>;
/** A `buckets` value in any of its four forms. */
export type BucketsConfig = Static<typeof BucketsDefinition>;
