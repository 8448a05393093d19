import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, StringEnum, parseDuration } from '../../src/sdk';

/** Where records go. */
export const SINKS = ['stdout', 'file', 'http', 'redis'] as const;
export type SinkKind = (typeof SINKS)[number];

/** Params of a `decisionlog` handler. See README.md. */
export const DecisionLogParams = Type.Object(
  {
    /** Share of allowed decisions kept, 0 to 1 (default 1: all). Denials (any non-OK verdict) are always kept. */
    sample: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 1 })),
    /** Seed of the sampling PRNG, so runs can be repeated exactly; absent: a random seed. */
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    /**
     * Attributes to mask in records: a name (`source.ip`, `request.headers`) masks the whole value,
     * `name["key"]` one key of a map. Credential headers (authorization, cookie, proxy-authorization,
     * set-cookie) are always masked.
     */
    mask: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [] })),
    /**
     * What of the bag a record keeps: `referenced` (default: the attributes the decision read, with their
     * values, besides caller and destination identity) or `all` (the whole bag as decoded, as OPA logs its input).
     */
    attributes: Type.Optional(StringEnum(['referenced', 'all'] as const, { default: 'referenced' })),
    /** `stdout` (default: JSON lines), `file` (JSON lines, size-based rotation), `http` (batches, OPA's decision-log shape), `redis` (a capped stream). */
    sink: Type.Optional(StringEnum(SINKS, { default: 'stdout' })),
    /** file: the file written (its directory is created). */
    path: Type.Optional(Type.String({ minLength: 1 })),
    /** file: rotate when the file would pass this many bytes (default 100 MiB). */
    maxBytes: Type.Optional(Type.Integer({ minimum: 1024, default: 100 * 1024 * 1024 })),
    /** file: rotated files kept, `<path>.1` newest (default 5). */
    maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5 })),
    /** http: where batches are POSTed (a JSON array of OPA-style decision events). */
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** http: extra request headers (e.g. an authorization the endpoint wants). */
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** http: longest one POST may take (default 5s). */
    timeout: Type.Optional(GoDuration({ default: '5s' })),
    /** redis: stream name; the key is `<MIXER_KEY_PREFIX>h:<namespace>/<handler>:<stream>` (default `decisions`). */
    stream: Type.Optional(Type.String({ minLength: 1, pattern: '^[^*?\\[\\]\\s]+$', default: 'decisions' })),
    /** redis: most stream entries kept, approximately (`XADD MAXLEN ~`); one entry is one batch of up to `batchSize` records (default 10 000). */
    maxLen: Type.Optional(Type.Integer({ minimum: 1, default: 10_000 })),
    /** Records written per batch (default 500). */
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 500 })),
    /** Longest a record waits before its batch is written (default 1s). */
    flushInterval: Type.Optional(GoDuration({ default: '1s' })),
    /** Records held waiting to be written; past it new records are dropped and counted (default 10 000). */
    bufferSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 })),
  },
  {
    additionalProperties: false,
    allOf: [
      { if: { properties: { sink: { const: 'file' } }, required: ['sink'] }, then: { required: ['path'] } },
      { if: { properties: { sink: { const: 'http' } }, required: ['sink'] }, then: { required: ['url'] } },
    ],
  },
);

export type DecisionLogConfig = Static<typeof DecisionLogParams>;

/** Params with every default filled in and durations in ms. */
export interface DecisionLogSettings {
  sample: number;
  seed: number | undefined;
  mask: readonly string[];
  /** Keep the whole bag in records (`attributes: all`). */
  allAttributes: boolean;
  sink: SinkKind;
  path?: string;
  maxBytes: number;
  maxFiles: number;
  url?: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  stream: string;
  maxLen: number;
  batchSize: number;
  flushIntervalMs: number;
  bufferSize: number;
}

/** Fills defaults; throws for a combination the schema lets through but cannot work. */
export function resolveSettings(c: DecisionLogConfig): DecisionLogSettings {
  const sink = c.sink ?? 'stdout';
  if (sink === 'file' && !c.path) throw new Error('params.path: required when sink is file');
  if (sink === 'http' && !c.url) throw new Error('params.url: required when sink is http');
  return {
    sample: c.sample ?? 1,
    seed: c.seed,
    mask: c.mask ?? [],
    allAttributes: c.attributes === 'all',
    sink,
    path: c.path,
    maxBytes: c.maxBytes ?? 100 * 1024 * 1024,
    maxFiles: c.maxFiles ?? 5,
    url: c.url,
    headers: c.headers ?? {},
    timeoutMs: parseDuration(c.timeout ?? '5s') ?? 5000,
    stream: c.stream ?? 'decisions',
    maxLen: c.maxLen ?? 10_000,
    batchSize: c.batchSize ?? 500,
    flushIntervalMs: parseDuration(c.flushInterval ?? '1s') ?? 1000,
    bufferSize: c.bufferSize ?? 10_000,
  };
}
