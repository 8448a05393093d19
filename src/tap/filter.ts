import type { AttributeReader, Vocabulary } from '../attributes/types';
import { MixerError } from '../base/errors';
import type { ErrorDetail } from '../base/errors';
import { compileCondition, validateCondition } from '../conditions/condition';
import type { Condition } from '../conditions/condition';

/** What a tap asks to see, as given in `GET /v1/tap`'s query (and passed between replicas as is). */
export interface TapFilterSpec {
  /** A json-rules-engine condition over attributes, the language of `Rule.spec.match`. */
  match?: Condition;
  /** Shorthand: `source.labels["app"]` equals this. */
  source?: string;
  /** Shorthand: `destination.service.name` equals this. */
  destination?: string;
  /** Only checks or only reports. */
  kind?: 'check' | 'report';
  /** true: only checks answered with a non-OK status (reports never match). */
  denied?: boolean;
}

/** A compiled filter: cheap to run on every event while the tap is open. */
export interface TapFilter {
  readonly spec: TapFilterSpec;
  /** `code` is the check's status code; undefined for a report. */
  matches(kind: 'check' | 'report', bag: AttributeReader, code: number | undefined): boolean;
}

const KNOWN = new Set(['match', 'source', 'destination', 'kind', 'denied', 'rate']);

function bad(field: string, reason: string): never {
  throw new MixerError('MIXER_ERR_BAD_REQUEST', `tap filter ${field}: ${reason}`, { details: [{ field, reason }] });
}

/**
 * Reads a filter from query parameters: `match` (URL-encoded JSON condition), `source`, `destination`,
 * `kind=check|report`, `denied=true|false`. Throws MIXER_ERR_BAD_REQUEST naming the parameter. Unknown
 * parameters are refused too, so a typo does not silently tap everything.
 */
export function parseTapQuery(query: Readonly<Record<string, string>>): TapFilterSpec {
  const spec: TapFilterSpec = {};
  for (const k of Object.keys(query)) if (!KNOWN.has(k)) bad(k, 'unknown parameter (expected match, source, destination, kind, denied, rate)');
  if (query.match !== undefined) {
    try {
      spec.match = JSON.parse(query.match) as Condition;
    } catch (err) {
      bad('match', `not JSON: ${(err as Error).message}`);
    }
  }
  if (query.source !== undefined) spec.source = query.source;
  if (query.destination !== undefined) spec.destination = query.destination;
  if (query.kind !== undefined) {
    if (query.kind !== 'check' && query.kind !== 'report') bad('kind', 'must be check or report');
    spec.kind = query.kind;
  }
  if (query.denied !== undefined) {
    if (query.denied !== 'true' && query.denied !== 'false') bad('denied', 'must be true or false');
    spec.denied = query.denied === 'true';
  }
  return spec;
}

/** The spec's attribute conditions as one condition (undefined: every bag). */
function conditionOf(spec: TapFilterSpec): Condition | undefined {
  const all: Condition[] = [];
  if (spec.match !== undefined) all.push(spec.match);
  if (spec.source !== undefined) all.push({ fact: 'source.labels', path: '$.app', operator: 'equal', value: spec.source });
  if (spec.destination !== undefined) all.push({ fact: 'destination.service.name', operator: 'equal', value: spec.destination });
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0] : { all };
}

/**
 * Validates and compiles a filter against the vocabulary, as a Rule's `match` is. Throws
 * MIXER_ERR_BAD_REQUEST with every problem (field `match...`).
 */
export function compileTapFilter(spec: TapFilterSpec, vocab: Vocabulary): TapFilter {
  if (spec.match !== undefined) {
    const errors: ErrorDetail[] = validateCondition(spec.match, vocab, 'match');
    if (errors.length > 0) throw new MixerError('MIXER_ERR_BAD_REQUEST', `tap filter match: ${errors[0].reason}`, { details: errors });
  }
  const cond = conditionOf(spec);
  const pred = cond === undefined ? undefined : compileCondition(cond, vocab);
  const { kind, denied } = spec;
  return {
    spec,
    matches(k, bag, code) {
      if (kind !== undefined && k !== kind) return false;
      if (denied !== undefined && (code === undefined || (code !== 0) !== denied)) return false;
      return pred === undefined || pred(bag);
    },
  };
}
