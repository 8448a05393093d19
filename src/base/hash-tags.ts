/**
 * Hash tags for Redis Cluster. Keys that one script or transaction touches together must share a
 * hash slot, so they carry the same `{tag}`; state that should spread over the primaries is split
 * into several tags. {@link spreadTags} picks tags whose slots lie evenly over the 16,384 slots, so
 * with the usual even slot ranges (`redis-cli --cluster create`) `n` tags land on min(n, primaries)
 * primaries as evenly as the numbers allow. On one server the tags cost nothing.
 */
import calculateSlot from 'cluster-key-slot';

export const SLOTS = 16384;

/** `n` tags `<stem><i>` (with a suffix where needed) whose slots fall one in each n-th of the slot range. */
export function spreadTags(stem: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const lo = Math.floor((i * SLOTS) / n);
    const hi = Math.floor(((i + 1) * SLOTS) / n);
    let tag = `${stem}${i}`;
    for (let k = 0; ; k++) {
      const slot = calculateSlot(tag);
      if (slot >= lo && slot < hi) break;
      tag = `${stem}${i}.${k.toString(36)}`;
    }
    out.push(tag);
  }
  return out;
}

/** The slot of a key (hash tags honoured). */
export function slotOf(key: string): number {
  return calculateSlot(key);
}
