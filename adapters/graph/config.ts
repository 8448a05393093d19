import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/** Default of `maxEdges`. */
export const DEFAULT_MAX_EDGES = 10_000;
/** Default of `maxBucketBytes`: 2 MiB. */
export const DEFAULT_MAX_BUCKET_BYTES = 2 * 1024 * 1024;
/** Default of `maxGraphEdges`. */
export const DEFAULT_MAX_GRAPH_EDGES = 2000;
/** Default of `maxLabelValueLength`, bytes. */
export const DEFAULT_MAX_LABEL_VALUE_LENGTH = 256;

/** Params of the `graph` handler. */
export const GraphParams = Type.Object(
  {
    /**
     * Most distinct edges kept per time bucket (default 10 000), and most edges one window reads.
     * Requests of further edges in that bucket are not counted; they are counted in
     * `mixer_graph_edges_dropped_total` and logged.
     */
    maxEdges: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_MAX_EDGES })),
    /** Most bytes of edge state per time bucket (default 2 MiB); a new edge beyond it is dropped and counted like one over `maxEdges`. */
    maxBucketBytes: Type.Optional(Type.Integer({ minimum: 4096, maximum: 1024 * 1024 * 1024, default: DEFAULT_MAX_BUCKET_BYTES })),
    /** Most edges one `GET /v1/graph` answer carries (default 2 000): the busiest; the answer says how many were left out. */
    maxGraphEdges: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_MAX_GRAPH_EDGES })),
    /** Longest text field of an edge (workload, app, service, ...), bytes (default 256); longer ones are cut with a marker and counted. */
    maxLabelValueLength: Type.Optional(Type.Integer({ minimum: 32, maximum: 65_536, default: DEFAULT_MAX_LABEL_VALUE_LENGTH })),
  },
  { additionalProperties: false },
);

export type GraphConfig = Static<typeof GraphParams>;

/** Graph params with defaults filled in. */
export interface GraphSettings {
  maxEdges: number;
  maxBucketBytes: number;
  maxGraphEdges: number;
  maxLabelValueBytes: number;
}

/** Fills defaults. */
export function resolveGraphConfig(config: GraphConfig): GraphSettings {
  return {
    maxEdges: config.maxEdges ?? DEFAULT_MAX_EDGES,
    maxBucketBytes: config.maxBucketBytes ?? DEFAULT_MAX_BUCKET_BYTES,
    maxGraphEdges: config.maxGraphEdges ?? DEFAULT_MAX_GRAPH_EDGES,
    maxLabelValueBytes: config.maxLabelValueLength ?? DEFAULT_MAX_LABEL_VALUE_LENGTH,
  };
}
