import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, parseDuration } from '../../src/sdk';

const Override = Type.Object(
  {
    /** Applies when every one of these dimensions equals the instance's (values compared as text). */
    dimensions: Type.Record(Type.String(), Type.String()),
    maxAmount: Type.Integer({ minimum: 0 }),
    /** Window length for matching dimension sets; default: the quota's. */
    validDuration: Type.Optional(GoDuration()),
  },
  { additionalProperties: false },
);

const Quota = Type.Object(
  {
    /** Quota instance this limit is for: `namespace/name`, or the short `name`. */
    name: Type.String({ minLength: 1 }),
    /** Amount per window for each distinct dimension set. */
    maxAmount: Type.Integer({ minimum: 0 }),
    /** Window length (Go duration); `0s` (the default, as in Istio) means the amount never refills. */
    validDuration: Type.Optional(GoDuration({ default: '0s' })),
    /** First matching override wins. */
    overrides: Type.Optional(Type.Array(Override, { default: [] })),
  },
  { additionalProperties: false },
);

/** Params of the `memquota` handler (Istio 1.4 names). */
export const MemQuotaParams = Type.Object(
  {
    quotas: Type.Optional(Type.Array(Quota, { default: [] })),
    /** A repeated dedupId within this duration gets the earlier answer (default `1s`). */
    minDeduplicationDuration: Type.Optional(GoDuration({ default: '1s' })),
  },
  { additionalProperties: false },
);

/** memquota params as written (after schema defaults). */
export type MemQuotaConfig = Static<typeof MemQuotaParams>;

/** An amount per window; `validDuration` 0 = one window that never ends. Durations in ms. */
export interface QuotaLimit {
  maxAmount: number;
  validDuration: number;
}

/** One configured quota with its overrides, durations in ms. */
export interface QuotaSettings {
  name: string;
  limit: QuotaLimit;
  overrides: ReadonlyArray<{ dimensions: Readonly<Record<string, string>>; limit: QuotaLimit }>;
}

/** memquota params with defaults filled in, durations in ms. */
export interface MemQuotaSettings {
  quotas: readonly QuotaSettings[];
  /** ms */
  minDeduplicationDuration: number;
}

function ms(field: string, text: string): number {
  const v = parseDuration(text);
  if (v === undefined || v < 0) throw new Error(`params.${field}: "${text}" is not a duration`);
  return v;
}

/** Fills defaults and converts durations; throws a clear Error for duplicate quota names. */
export function resolveMemQuotaConfig(config: MemQuotaConfig): MemQuotaSettings {
  const seen = new Set<string>();
  const quotas = (config.quotas ?? []).map((q, i): QuotaSettings => {
    if (seen.has(q.name)) throw new Error(`params.quotas[${i}].name: "${q.name}" is configured twice`);
    seen.add(q.name);
    const validDuration = ms(`quotas[${i}].validDuration`, q.validDuration ?? '0s');
    return {
      name: q.name,
      limit: { maxAmount: q.maxAmount, validDuration },
      overrides: (q.overrides ?? []).map((o, j) => ({
        dimensions: o.dimensions,
        limit: {
          maxAmount: o.maxAmount,
          validDuration: o.validDuration === undefined ? validDuration : ms(`quotas[${i}].overrides[${j}].validDuration`, o.validDuration),
        },
      })),
    };
  });
  return { quotas, minDeduplicationDuration: ms('minDeduplicationDuration', config.minDeduplicationDuration ?? '1s') };
}
