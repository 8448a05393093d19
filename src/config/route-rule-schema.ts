/**
 * The `RouteRule` config kind, in the shape of Istio's v1alpha2 RouteRule (camelCase fields).
 * Schema only (types and structure); the checks that need more than a schema (weights summing to
 * 100, regexes, durations, percentages) live in `compile.ts`.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

const Labels = Type.Record(Type.String({ minLength: 1 }), Type.String());

/** One header condition: exactly one of `exact`, `prefix`, `regex` (a full-string match). */
export const StringMatch = Type.Object(
  {
    exact: Type.Optional(Type.String()),
    prefix: Type.Optional(Type.String()),
    regex: Type.Optional(Type.String()),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);

const Destination = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const Match = Type.Object(
  {
    source: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Type.String({ minLength: 1 })),
          labels: Type.Optional(Labels),
        },
        { additionalProperties: false },
      ),
    ),
    request: Type.Optional(
      Type.Object(
        {
          headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringMatch)),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const WeightedRoute = Type.Object(
  {
    labels: Type.Optional(Labels),
    weight: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

/** `spec` of a RouteRule document. */
export const RouteRuleSpec = Type.Object(
  {
    destination: Destination,
    precedence: Type.Optional(Type.Integer()),
    match: Type.Optional(Match),
    route: Type.Optional(Type.Array(WeightedRoute, { minItems: 1 })),
    httpReqTimeout: Type.Optional(
      Type.Object({ simpleTimeout: Type.Object({ timeout: Type.String() }, { additionalProperties: false }) }, { additionalProperties: false }),
    ),
    httpReqRetries: Type.Optional(
      Type.Object(
        {
          simpleRetry: Type.Object(
            {
              attempts: Type.Integer(),
              perTryTimeout: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
    ),
    httpFault: Type.Optional(
      Type.Object(
        {
          delay: Type.Optional(Type.Object({ percent: Type.Number(), fixedDelay: Type.String() }, { additionalProperties: false })),
          abort: Type.Optional(Type.Object({ percent: Type.Number(), httpStatus: Type.Integer() }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The TypeScript type of a RouteRule `spec`. */
export type RouteRuleSpecValue = Static<typeof RouteRuleSpec>;
