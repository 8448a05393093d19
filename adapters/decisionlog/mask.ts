import { REDACTED_VALUE as MASKED } from '../../src/sdk';
import type { DecisionRecord, ReferencedValue } from '../../src/sdk';
import type { LoggedDecision } from './sinks';

type Values = Readonly<Record<string, unknown>>;

/** One `mask` entry: a whole attribute, or one key of a map attribute. */
interface MaskPath {
  name: string;
  key?: string;
}

/** The attributes each caller field comes from (see the runtime's `callerOf`): masking one masks the field. */
const CALLER_SOURCES: ReadonlyArray<readonly [keyof DecisionRecord['caller'], ReadonlyArray<readonly [string, string?]>]> = [
  ['principal', [['source.principal']]],
  ['workload', [['source.workload.name']]],
  ['namespace', [['source.workload.namespace'], ['source.namespace']]],
  ['app', [['source.labels', 'app']]],
  ['ip', [['source.ip']]],
];

const KEYED = /^([^\s[\]"]+)\["([^"]+)"\]$/;

/** Parses `name` or `name["key"]`; throws naming the entry otherwise. */
export function parseMask(entries: readonly string[]): MaskPath[] {
  return entries.map((e, i) => {
    const m = KEYED.exec(e);
    if (m) return { name: m[1], key: m[2].toLowerCase() };
    if (/^[^\s[\]"]+$/.test(e)) return { name: e };
    throw new Error(`params.mask[${i}]: ${JSON.stringify(e)} is neither an attribute name nor name["key"]`);
  });
}

function maskValue(v: unknown, keys: readonly string[] | true): unknown {
  if (keys === true) return MASKED;
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = { ...(v as Values) };
  for (const k of Object.keys(out)) if (keys.includes(k.toLowerCase())) out[k] = MASKED;
  return out;
}

/**
 * Masks a record's attributes and referenced values as `paths` say; returns the record itself when
 * no path applies (records are shared and frozen: never changed in place).
 */
export function maskRecord(r: LoggedDecision, paths: readonly MaskPath[]): LoggedDecision {
  if (paths.length === 0) return r;
  const byName = new Map<string, string[] | true>();
  for (const p of paths) {
    const cur = byName.get(p.name);
    if (p.key === undefined || cur === true) byName.set(p.name, true);
    else byName.set(p.name, [...(cur ?? []), p.key]);
  }
  let attributes: Record<string, unknown> | undefined;
  for (const [name, keys] of byName) {
    if (r.attributes === undefined || !Object.prototype.hasOwnProperty.call(r.attributes, name)) continue;
    (attributes ??= { ...r.attributes })[name] = maskValue(r.attributes[name], keys);
  }
  let changed = false;
  const referenced = r.referenced.map((ref): ReferencedValue => {
    const keys = byName.get(ref.name);
    if (keys === undefined || ref.value === undefined) return ref;
    if (ref.key !== undefined && keys !== true && !keys.includes(ref.key.toLowerCase())) return ref;
    changed = true;
    return { ...ref, value: ref.key !== undefined ? MASKED : (maskValue(ref.value, keys) as ReferencedValue['value']) };
  });
  let caller: Record<string, string> | undefined;
  for (const [field, names] of CALLER_SOURCES) {
    if (r.caller[field] === undefined) continue;
    const hit = names.some(([name, key]) => {
      const keys = byName.get(name);
      return keys === true || (key !== undefined && keys !== undefined && keys.includes(key));
    });
    if (hit) (caller ??= { ...r.caller } as Record<string, string>)[field] = MASKED;
  }
  if (attributes === undefined && !changed && caller === undefined) return r;
  return { ...r, attributes: (attributes ?? r.attributes) as LoggedDecision['attributes'], referenced, caller: caller ?? r.caller };
}
