import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { GoDuration, parseDuration } from '../../src/sdk';

/** The path Zipkin's v2 API takes spans on, appended to the base `url`. */
export const SPANS_PATH = '/api/v2/spans';

/** Most spans one POST may carry, whatever `maxSpansPerRequest` says. */
export const MAX_SPANS_PER_REQUEST = 100_000;

/** Params of the `zipkin` handler. */
export const ZipkinParams = Type.Object(
  {
    /**
     * Base URL of the Zipkin server (`http://zipkin:9411`); spans go to `${url}/api/v2/spans`. A URL that
     * already ends in `/api/v2/spans` is used as is. The empty string disables the handler.
     */
    url: Type.String({ pattern: '^(https?://\\S+)?$' }),
    /** Share of traces sent (0..1, default 1) when a span carries no sampling decision of its own. */
    sampleProbability: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 1 })),
    /** How long one POST may take before it counts as failed (Go duration, default `5s`, above zero). */
    // A duration with a non-zero digit is above zero (the format already refuses negative ones).
    timeout: Type.Optional(GoDuration({ default: '5s', pattern: '[1-9]' })),
    /** Most spans per POST (default 1000); a larger batch is sent in several POSTs. */
    maxSpansPerRequest: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SPANS_PER_REQUEST, default: 1000 })),
  },
  { additionalProperties: false },
);

export type ZipkinConfig = Static<typeof ZipkinParams>;

/** Zipkin params with defaults filled in. */
export interface ZipkinSettings {
  /** Where spans are POSTed (`…/api/v2/spans`), or undefined when the handler is disabled. */
  endpoint: string | undefined;
  /** 0..1. */
  sampleProbability: number;
  /** ms, above zero. */
  timeoutMs: number;
  maxSpansPerRequest: number;
}

/** The POST endpoint for a base URL: trailing slashes dropped, `/api/v2/spans` appended unless already there. */
export function spansEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`params.url: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`params.url: "${url}" must be http or https`);
  const base = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  return base.endsWith(SPANS_PATH) ? `${base}${parsed.search}` : `${base}${SPANS_PATH}${parsed.search}`;
}

/** Fills defaults and checks what the schema cannot express; throws a clear Error. */
export function resolveZipkinConfig(config: ZipkinConfig): ZipkinSettings {
  const timeoutText = config.timeout ?? '5s';
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || !(timeoutMs > 0)) throw new Error(`params.timeout: "${timeoutText}" must be a duration above zero`);
  return {
    endpoint: config.url === '' ? undefined : spansEndpoint(config.url),
    sampleProbability: config.sampleProbability ?? 1,
    timeoutMs,
    maxSpansPerRequest: Math.min(config.maxSpansPerRequest ?? 1000, MAX_SPANS_PER_REQUEST),
  };
}
