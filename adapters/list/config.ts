import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, StringEnum, parseDuration } from '../../src/sdk';
import { ENTRY_TYPES } from './matcher';
import type { EntryType } from './matcher';

/** Params of the `list` handler: Istio 1.4's list adapter in camelCase, plus `file`. */
export const ListParams = Type.Object(
  {
    /** http(s) URL answering one entry per line. Exclusive with `file`. */
    providerUrl: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://' })),
    /** Local file, one entry per line, `#` starts a comment line. Exclusive with `providerUrl`. */
    file: Type.Optional(Type.String({ minLength: 1 })),
    /** Entries always in the list, whatever the provider says. */
    overrides: Type.Optional(Type.Array(Type.String(), { default: [] })),
    /** How often the provider/file is reloaded (default `60s`). */
    refreshInterval: Type.Optional(GoDuration({ default: '60s' })),
    /** Provider data older than this is stale (default `300s`). */
    ttl: Type.Optional(GoDuration({ default: '300s' })),
    /** How long an answer may be cached (default `300s`). */
    cachingInterval: Type.Optional(GoDuration({ default: '300s' })),
    /** How many uses an answer may be cached for (default 10000). */
    cachingUseCount: Type.Optional(Type.Integer({ minimum: 0, default: 10000 })),
    entryType: Type.Optional(StringEnum(ENTRY_TYPES, { default: 'STRINGS' })),
    /** true: entries are denied (blacklist); false: only entries are allowed (whitelist). */
    blacklist: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

/** list params as written (after schema defaults). */
export type ListConfig = Static<typeof ListParams>;

/** List params with defaults filled in; durations in ms. */
export interface ListSettings {
  providerUrl?: string;
  file?: string;
  overrides: readonly string[];
  refreshInterval: number;
  ttl: number;
  cachingInterval: number;
  cachingUseCount: number;
  entryType: EntryType;
  blacklist: boolean;
}

function ms(field: string, text: string): number {
  const v = parseDuration(text);
  if (v === undefined || v < 0) throw new Error(`params.${field}: "${text}" is not a duration`);
  return v;
}

/** Fills defaults, converts durations and checks the rules the schema cannot express; throws a clear Error. */
export function resolveListConfig(config: ListConfig): ListSettings {
  const s: ListSettings = {
    providerUrl: config.providerUrl,
    file: config.file,
    overrides: config.overrides ?? [],
    refreshInterval: ms('refreshInterval', config.refreshInterval ?? '60s'),
    ttl: ms('ttl', config.ttl ?? '300s'),
    cachingInterval: ms('cachingInterval', config.cachingInterval ?? '300s'),
    cachingUseCount: config.cachingUseCount ?? 10000,
    entryType: config.entryType ?? 'STRINGS',
    blacklist: config.blacklist ?? false,
  };
  if (s.providerUrl !== undefined && s.file !== undefined) throw new Error('params: set providerUrl or file, not both');
  if (s.providerUrl !== undefined || s.file !== undefined) {
    if (s.refreshInterval <= 0) throw new Error('params.refreshInterval: must be more than 0 when a providerUrl or file is set');
    if (s.ttl <= s.refreshInterval) throw new Error('params.ttl: must be longer than refreshInterval');
  }
  return s;
}
