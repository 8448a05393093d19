/** Dimension helpers of the memquota adapter (kept in this folder so the adapter stands alone). */

/** The `dimensions` field of a quota instance, or `{}` when absent. */
export function dimensionsOf(fields: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const d = fields.dimensions;
  return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {};
}

/** A key that is equal for equal dimension sets whatever the key order (values compared as text). */
export function canonicalDimensions(dims: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(dims).sort();
  return JSON.stringify(keys.map((k) => [k, String(dims[k])]));
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
