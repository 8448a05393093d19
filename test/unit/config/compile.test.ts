import { strict as assert } from 'node:assert';
import { parseConfigText } from '../../../src/config/load';
import { compileConfig } from '../../../src/config/compile';
import { adapterInventory } from '../../../adapters/index';

const MANIFEST = `apiVersion: mixer/v1
kind: AttributeManifest
metadata: {name: small}
spec:
  attributes:
    source.labels: {valueType: STRING_MAP}
    destination.service.name: {valueType: STRING}
    response.code: {valueType: INT64}
---
`;

function compile(text: string) {
  const loaded = parseConfigText(MANIFEST + text, 'c.yaml', {});
  assert.deepEqual(loaded.errors, []);
  return compileConfig(loaded.objects, adapterInventory());
}

describe('config/compile', () => {
  it('checks references: missing handler, missing instance, template the adapter does not take', () => {
    const r = compile(`apiVersion: mixer/v1
kind: Rule
metadata: {name: r}
spec:
  actions:
    - {handler: ghost, instances: [nothing]}
    - {handler: deny, instances: [missing, amount]}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny}
spec: {adapter: denier}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: amount}
spec: {template: metric, params: {value: "1"}}
`);
    const text = r.errors.map((e) => `${e.field} :: ${e.reason}`).join('\n');
    assert.match(text, /c\.yaml:15 Rule\/default\/r spec\.actions\[0\]\.handler :: handler default\/ghost does not exist/);
    assert.match(text, /spec\.actions\[1\]\.instances\[0\] :: instance default\/missing does not exist/);
    assert.match(text, /spec\.actions\[1\]\.instances\[1\] :: instance default\/amount is a metric, which adapter denier .* does not take/);
    assert.equal(r.plan, undefined);
  });

  it('rejects expressions and conditions naming undeclared attributes, unknown adapters and bad params', () => {
    const r = compile(`apiVersion: mixer/v1
kind: Instance
metadata: {name: v}
spec: {template: listentry, params: {value: source.nickname | "x"}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: r}
spec:
  match: {all: [{fact: destination.service.nam, operator: equal, value: backend}]}
  actions: [{handler: deny, instances: [v]}]
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny}
spec: {adapter: denier, params: {status: {code: "seven"}}}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: other}
spec: {adapter: teleporter}
`);
    const text = r.errors.map((e) => `${e.field} :: ${e.reason}`).join('\n');
    assert.match(text, /Instance\/default\/v spec\.params\.value :: attribute source\.nickname is not declared/);
    assert.match(text, /Rule\/default\/r spec\.match :: .*destination\.service\.nam/);
    assert.match(text, /spec\.params.*status.*code/);
    assert.match(text, /spec\.adapter :: unknown adapter "teleporter"/);
  });

  it('orders rules by namespace then name and detects duplicates', () => {
    const doc = (ns: string, name: string) => `apiVersion: mixer/v1
kind: Rule
metadata: {name: ${name}, namespace: ${ns}}
spec: {actions: [{handler: default/deny, instances: [default/nothing]}]}
---
`;
    const r = compile(
      doc('zeta', 'a') +
        doc('alpha', 'b') +
        doc('alpha', 'a') +
        `apiVersion: mixer/v1
kind: Handler
metadata: {name: deny}
spec: {adapter: denier}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
`,
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.plan!.rules.map((x) => x.ref),
      ['alpha/a', 'alpha/b', 'zeta/a'],
    );
    const dup = compile(doc('x', 'a') + doc('x', 'a').replace(/---\n$/, ''));
    assert.ok(dup.errors.some((e) => /duplicate Rule x\/a/.test(e.reason)));
  });
});
