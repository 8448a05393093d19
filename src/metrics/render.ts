import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The text of `/metrics`: Mixer's own registry, then every handler's registry merged into one set of
 * families (two handlers of one adapter export the same metric names with different `handler` labels,
 * and Prometheus rejects a family that appears twice). Families are rendered one at a time, and a
 * family only one registry has is rendered as it is: only families several registries share go
 * through prom-client's aggregation (which copies every sample), so a large family (a prometheus
 * handler's stored series) costs memory once, not three times.
 */
export async function renderMetrics(self: Registry, handlers: Iterable<Registry>): Promise<string> {
  // Concatenated, never trimmed or joined: a family's text can be megabytes, and V8 concatenates without copying.
  let text = await self.metrics();
  const add = (part: string): void => {
    if (part === '' || part === '\n') return;
    text += part.endsWith('\n') ? `\n${part}` : `\n${part}\n`;
  };
  const byName = new Map<string, Registry[]>();
  for (const r of handlers) {
    for (const m of r.getMetricsAsArray()) {
      const list = byName.get(m.name);
      if (list) list.push(r);
      else byName.set(m.name, [r]);
    }
  }
  for (const [name, regs] of byName) {
    if (regs.length === 1) {
      add(await regs[0].getSingleMetricAsString(name));
      continue;
    }
    const merged = AggregatorRegistry.aggregate(await Promise.all(regs.map(async (r) => [await r.getSingleMetric(name)!.get()])));
    add(await merged.metrics());
  }
  return text;
}
