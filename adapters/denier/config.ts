import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, parseDuration } from '../../src/sdk';
import type { Status } from '../../src/sdk';

/** Params of the `denier` handler (Istio 1.4 names). */
export const DenierParams = Type.Object(
  {
    status: Type.Optional(
      Type.Object(
        {
          /** google.rpc code answered (default 7, PERMISSION_DENIED). */
          code: Type.Optional(Type.Integer({ minimum: 0, maximum: 16, default: 7 })),
          message: Type.Optional(Type.String()),
        },
        { additionalProperties: false, default: {} },
      ),
    ),
    /** How long a verdict may be cached (Go duration, default `5s`). */
    validDuration: Type.Optional(GoDuration({ default: '5s' })),
    /** How many uses a verdict may be cached for (default 1000). */
    validUseCount: Type.Optional(Type.Integer({ minimum: 0, default: 1000 })),
  },
  { additionalProperties: false },
);

/** denier params as written (after schema defaults). */
export type DenierConfig = Static<typeof DenierParams>;

/** Denier params with defaults filled in and durations in ms. */
export interface DenierSettings {
  status: Status;
  validDuration: number;
  validUseCount: number;
}

/** Fills defaults and converts durations; throws on a duration that is not Go syntax. */
export function resolveDenierConfig(config: DenierConfig): DenierSettings {
  const text = config.validDuration ?? '5s';
  const validDuration = parseDuration(text);
  if (validDuration === undefined || validDuration < 0) throw new Error(`params.validDuration: "${text}" is not a duration`);
  const status: Status = { code: config.status?.code ?? 7 };
  if (config.status?.message) status.message = config.status.message;
  return { status, validDuration, validUseCount: config.validUseCount ?? 1000 };
}
