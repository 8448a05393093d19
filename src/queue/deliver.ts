import { Bag } from '../attributes/bag';
import type { BagValues } from '../attributes/bag';
import type { InstanceValue } from '../sdk/adapter';
import { isPermanent } from '../sdk/adapter';
import type { Snapshot } from '../runtime/snapshot';
import { TimeoutError, withTimeout } from '../base/timeout';

/** Outcome of one delivery attempt of a batch to one handler. */
export type DeliveryOutcome = { ok: true; instances: number } | { ok: false; error: Error; permanent: boolean };

/** The instances a handler receives for a batch under the given snapshot (rule order kept). */
export function instancesFor(snapshot: Snapshot, handler: string, bags: readonly BagValues[]): InstanceValue[] {
  const rules = snapshot.reportRulesByHandler.get(handler);
  const out: InstanceValue[] = [];
  if (!rules) return out;
  for (const values of bags) {
    const bag = Bag.trusted(values);
    for (const rule of rules.select(bag)) {
      for (const call of rule.reports) if (call.handler.ref === handler) out.push(call.instance.build(bag));
    }
  }
  return out;
}

/**
 * Delivers a batch to one handler: builds its instances and calls `report()` under the guard
 * (a throw, a rejection or a timeout is a failed attempt; PermanentError marks it not worth retrying).
 * A handler the live config no longer has is a permanent failure: its batches are dead-lettered.
 */
export async function deliver(
  snapshot: Snapshot,
  handler: string,
  bags: readonly BagValues[],
  ctx: { jobId: string; attempt: number },
  timeoutMs: number,
): Promise<DeliveryOutcome> {
  const h = snapshot.handlers.get(handler);
  if (!h || !h.handler.report) {
    return {
      ok: false,
      error: new Error(`handler ${handler} is not in the live config (generation ${snapshot.generation}) or takes no reports`),
      permanent: true,
    };
  }
  const t0 = performance.now();
  let instances: InstanceValue[];
  try {
    instances = instancesFor(snapshot, handler, bags);
    if (instances.length > 0)
      await withTimeout(
        Promise.resolve().then(() => h.handler.report!(instances, ctx)),
        timeoutMs,
        `handler ${handler}: report`,
      );
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    (err instanceof TimeoutError ? h.timeoutCount : h.errorCount).inc();
    return { ok: false, error, permanent: isPermanent(err) };
  }
  h.okCount.inc();
  h.duration.observe((performance.now() - t0) / 1000);
  return { ok: true, instances: instances.length };
}
