import { createHash } from 'node:crypto';

/**
 * `value` cut to at most `maxBytes` bytes of UTF-8 (never inside a character), ending with the
 * marker `…[truncated <8 hex>]`, where the hex is the start of the SHA-256 of the whole value (so
 * two long values that share their start stay apart). A value that fits is returned as it is.
 * `maxBytes` must leave room for the marker (at least 32).
 */
export function truncateLabelValue(value: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 bytes of UTF-8: the common case needs no encoding.
  if (value.length * 3 <= maxBytes) return value;
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= maxBytes) return value;
  const marker = `…[truncated ${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}]`;
  let keep = Math.max(0, maxBytes - Buffer.byteLength(marker));
  // Back off continuation bytes (10xxxxxx) so no character is cut.
  while (keep > 0 && (bytes[keep] & 0xc0) === 0x80) keep--;
  return bytes.subarray(0, keep).toString('utf8') + marker;
}

/** True when `value` is a label value cut by {@link truncateLabelValue}. */
export function isTruncatedLabelValue(value: string): boolean {
  return /…\[truncated [0-9a-f]{8}\]$/.test(value);
}
