import { strict as assert } from 'node:assert';
import { parseConfigText } from '../../src/config/load';
import { compileConfig } from '../../src/config/compile';
import { buildSnapshot } from '../../src/runtime/snapshot';
import type { Snapshot } from '../../src/runtime/snapshot';
import { SelfMetrics } from '../../src/metrics/self-metrics';
import { silentLogger } from '../../src/base/log';
import type { AdapterFactory } from '../../src/sdk/adapter';

/** An attribute manifest for snapshot tests: the names they use, and two instances. */
export const TEST_MANIFEST = `apiVersion: mixer/v1
kind: AttributeManifest
metadata: {name: m}
spec:
  attributes:
    source.labels: {valueType: STRING_MAP}
    destination.service.name: {valueType: STRING}
    response.code: {valueType: INT64}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: requests}
spec: {template: metric, params: {value: "1", dimensions: {code: response.code | 200}}}
`;

/** A Handler document of `adapter` with `params`. */
export function handlerDoc(name: string, adapter: string, params: object): string {
  return `---\napiVersion: mixer/v1\nkind: Handler\nmetadata: {name: ${name}}\nspec: {adapter: ${adapter}, params: ${JSON.stringify(params)}}\n`;
}

/** A Rule document sending `instance` to `handler`, when `match` holds (always when absent). */
export function ruleDoc(name: string, handler: string, instance: string, match?: object): string {
  return `---\napiVersion: mixer/v1\nkind: Rule\nmetadata: {name: ${name}}\nspec: {${match ? `match: ${JSON.stringify(match)}, ` : ''}actions: [{handler: ${handler}, instances: [${instance}]}]}\n`;
}

/**
 * Compiles `TEST_MANIFEST + text` with `adapters` and starts its handlers, as a reload does
 * (reusing the handlers of `previous` whose config did not change). Fails the test on a config error.
 */
export async function snapshotOf(
  text: string,
  adapters: readonly AdapterFactory[],
  opts: { previous?: Snapshot; generation?: number; metrics?: SelfMetrics } = {},
): Promise<Snapshot> {
  const loaded = parseConfigText(TEST_MANIFEST + text, 't.yaml', {});
  assert.deepEqual(loaded.errors, []);
  const c = compileConfig(loaded.objects, new Map(adapters.map((a) => [a.name, a])));
  assert.deepEqual(c.errors, []);
  const metrics = opts.metrics ?? new SelfMetrics({ processMetrics: false });
  return buildSnapshot(c.plan!, { generation: opts.generation ?? 1, epoch: 'test' }, { logger: silentLogger(), metrics }, opts.previous);
}
