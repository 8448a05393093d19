import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The text of `/metrics`: Mixer's own registry, then every handler's registry merged into one set of
 * families (two handlers of one adapter export the same metric names with different `handler` labels,
 * and Prometheus rejects a family that appears twice).
 */
export async function renderMetrics(self: Registry, handlers: Iterable<Registry>): Promise<string> {
  const parts = [await self.metrics()];
  const regs = [...handlers];
  if (regs.length > 0) {
    const merged = AggregatorRegistry.aggregate(await Promise.all(regs.map((r) => r.getMetricsAsJSON())));
    parts.push(await merged.metrics());
  }
  return parts.filter((p) => p.trim() !== '').join('\n');
}
