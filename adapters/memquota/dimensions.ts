import { createHash } from 'node:crypto';

/** Dimension helpers of the memquota adapter (kept in this folder so the adapter stands alone). */

/** Keys longer than this (dimension encodings, dedup ids) are replaced by their SHA-256. */
export const MAX_READABLE_KEY = 200;

/** `text` itself when short, else `sha256:<hex>`: a bounded key that is equal for equal texts. */
export function boundedKey(text: string): string {
  return text.length <= MAX_READABLE_KEY ? text : `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The `dimensions` field of a quota instance, or `{}` when absent. */
export function dimensionsOf(fields: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const d = fields.dimensions;
  return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {};
}

/**
 * A key that is equal for equal dimension sets whatever the key order (values compared as text); at
 * most {@link MAX_READABLE_KEY} characters long or a SHA-256, however long the values.
 */
export function canonicalDimensions(dims: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(dims).sort();
  return boundedKey(JSON.stringify(keys.map((k) => [k, String(dims[k])])));
}

/** First entry whose `dimensions` are all present with equal values (as text) in `dims`. */
export function firstMatch<T extends { dimensions: Readonly<Record<string, string>> }>(
  overrides: readonly T[],
  dims: Readonly<Record<string, unknown>>,
): T | undefined {
  return overrides.find((o) => Object.entries(o.dimensions).every(([k, v]) => dims[k] !== undefined && String(dims[k]) === v));
}

/** Finds the configured entry for an instance reference: exact `namespace/name` first, then the short name. */
export function byInstanceName<T>(table: ReadonlyMap<string, T>, instanceName: string): T | undefined {
  const exact = table.get(instanceName);
  if (exact !== undefined) return exact;
  const slash = instanceName.lastIndexOf('/');
  return slash < 0 ? undefined : table.get(instanceName.slice(slash + 1));
}
