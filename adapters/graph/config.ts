import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/** Default of `maxEdges`. */
export const DEFAULT_MAX_EDGES = 10_000;

/** Params of the `graph` handler. */
export const GraphParams = Type.Object(
  {
    /**
     * Most distinct edges kept per time bucket (default 10 000). Requests of further edges in that
     * bucket are not counted; they are counted in `mixer_graph_edges_dropped_total` and logged.
     */
    maxEdges: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_MAX_EDGES })),
  },
  { additionalProperties: false },
);

export type GraphConfig = Static<typeof GraphParams>;

/** Graph params with defaults filled in. */
export interface GraphSettings {
  maxEdges: number;
}

/** Fills defaults. */
export function resolveGraphConfig(config: GraphConfig): GraphSettings {
  return { maxEdges: config.maxEdges ?? DEFAULT_MAX_EDGES };
}
