import type { BagValues } from '../attributes/bag';
import type { Snapshot } from '../runtime/snapshot';

/**
 * Tells the live tap about report bags that were accepted (durably queued). Every transport calls it
 * after a successful enqueue, with the snapshot the bags were decoded against; it costs one test of
 * `observers.active` while no tap is open.
 */
export function reportAccepted(snapshot: Snapshot, bags: readonly BagValues[]): void {
  if (!snapshot.observers.active) return;
  try {
    snapshot.observers.reported(bags, snapshot.generation);
  } catch {
    // A bug in a tap must not fail the report it watches: the bags are queued already.
  }
}
