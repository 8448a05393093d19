import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/** The repository root (tests run from `dist/test/unit/adapters/zipkin`). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..', '..');

/** Zipkin's own v2 API spec (Swagger 2.0), from openzipkin/zipkin-api (see test/fixtures/README.md). */
export const ZIPKIN_API_SPEC = path.join(REPO_ROOT, 'test', 'fixtures', 'zipkin2-api.yaml');

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Turns the spec's Swagger definitions into JSON Schema: `example` dropped, `$ref` siblings dropped
 * (a Swagger `$ref` stands alone), and every `pattern` anchored (`^(?:…)$`: the spec's are not, so
 * `"[a-f0-9]{16}"` would accept any text containing 16 hex digits).
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;
  if (typeof node.$ref === 'string') return { $ref: node.$ref };
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'example') continue;
    if (k === 'pattern' && typeof v === 'string') out[k] = `^(?:${v.replace(/^\^/, '').replace(/\$$/, '')})$`;
    else if (k === 'properties' && isObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, toJsonSchema(s)]));
    else out[k] = toJsonSchema(v);
  }
  return out;
}

/** Validates request bodies against the spec's `ListOfSpans` (the body of `POST /api/v2/spans`). */
export interface SpanListValidator {
  /** Problems found in `body` (empty when valid), each `instancePath: message`. */
  (body: unknown): string[];
  /** The spec's own example span, for a self-check. */
  readonly example: unknown;
}

/**
 * Loads the spec and compiles its `ListOfSpans`. Stricter than the spec in one way: spans and
 * endpoints may carry only the properties the spec defines (a typo such as `parentSpanId` fails).
 */
export function loadSpanListValidator(file = ZIPKIN_API_SPEC): SpanListValidator {
  const spec = parseYaml(readFileSync(file, 'utf8')) as { definitions: Json };
  const definitions = toJsonSchema(spec.definitions) as Record<string, Json>;
  for (const name of ['Span', 'Endpoint']) definitions[name] = { ...definitions[name], additionalProperties: false };
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile({ definitions, $ref: '#/definitions/ListOfSpans' });
  const check = (body: unknown): string[] => (validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`));
  return Object.assign(check, { example: (spec.definitions.Span as Json).example });
}
